"""Stage build_tasks: split per article (fixed test/val, seeded train pool, leakage guard) and write the four
tasks as chat examples."""

import argparse
import json
from pathlib import Path

from pressft.config import load_config
from pressft.errors import run_stage
from pressft.data.sources import read_records, write_jsonl
from pressft.data.splits import exclude_types, guard_leakage, split_articles, type_counts
from pressft.tasks import make_examples


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--articles", required=True)
    parser.add_argument("--splits", required=True, help="output folder for the articles of each split")
    parser.add_argument("--tasks", required=True, help="output folder for the task examples of each split")
    parser.add_argument("--report", required=True, help="split report JSON (a DVC metric)")
    args = parser.parse_args()
    config = load_config("split", "tasks")
    split, tasks = config.split, config.tasks
    articles, excluded = exclude_types(read_records(args.articles), list(split.exclude_types))
    if excluded:
        print(f"build_tasks: excluded by split.exclude_types: {excluded}")
    splits, removed = guard_leakage(split_articles(articles, split.test, split.val, split.seed))
    print(
        f"build_tasks: leakage guard removed {sum(removed.values())} training-pool articles that match a test or "
        f"validation article (by {removed})"
    )
    report = {"excluded": excluded, "leakage_removed": removed}
    for name, members in splits.items():
        write_jsonl(members, Path(args.splits) / f"{name}.jsonl")
        examples = []
        for rank, article in enumerate(members):
            for example in make_examples(article, tasks.names, tasks.prompts):
                examples.append({**example, "rank": rank})
        write_jsonl(examples, Path(args.tasks) / f"{name}.jsonl")
        report[name] = {"articles": len(members), "examples": len(examples), "types": type_counts(members)}
        print(f"build_tasks: {name}: {len(members)} articles, {len(examples)} examples, types {report[name]['types']}")
    Path(args.report).parent.mkdir(parents=True, exist_ok=True)
    Path(args.report).write_text(json.dumps(report, indent=2) + "\n")


if __name__ == "__main__":
    run_stage(main)
