"""Stage build_tasks: split per article (fixed test/val, seeded train pool, leakage guard) and write the tasks as
chat examples (an article lacking a field feeds only the tasks that do not need it)."""

import argparse
from collections import Counter
from pathlib import Path

from pressft.config import check_train_size, load_config
from pressft.data.neighbours import add_candidates
from pressft.errors import run_stage
from pressft.io import read_jsonl, write_json, write_jsonl
from pressft.data.splits import exclude_types, guard_leakage, split_articles, type_counts
from pressft.tasks import make_examples


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--articles", required=True)
    parser.add_argument("--splits", required=True, help="output folder for the articles of each split")
    parser.add_argument("--tasks", required=True, help="output folder for the task examples of each split")
    parser.add_argument("--report", required=True, help="split report JSON (a DVC metric)")
    args = parser.parse_args()
    config = load_config("split", "tasks", "train")
    split, tasks = config.split, config.tasks
    articles, excluded = exclude_types(read_jsonl(args.articles), list(split.exclude_types))
    if excluded:
        print(f"build_tasks: excluded by split.exclude_types: {excluded}")
    splits, removed = guard_leakage(split_articles(articles, split.test, split.val, split.seed))
    print(
        f"build_tasks: leakage guard removed {sum(removed.values())} training-pool articles that match a test or "
        f"validation article (by {removed})"
    )
    report = {"excluded": excluded, "leakage_removed": removed}
    built = {name: [{**example, "rank": rank} for rank, article in enumerate(members)
                    for example in make_examples(article, tasks.names, tasks.prompts)]
             for name, members in splits.items()}
    if tasks.neighbours:
        add_candidates([e for examples in built.values() for e in examples], built["pool"], tasks.neighbours,
                       check_train_size(config.train.size, len(splits["pool"])))
        print(f"build_tasks: candidates from the most similar training articles in the prompts of {tasks.neighbours}")
    for name, members in splits.items():
        write_jsonl(members, Path(args.splits) / f"{name}.jsonl")
        examples = built[name]
        write_jsonl(examples, Path(args.tasks) / f"{name}.jsonl")
        per_task = Counter(example["task"] for example in examples)
        report[name] = {"articles": len(members), "examples": len(examples), "types": type_counts(members),
                        "examples_per_task": {task: per_task[task] for task in tasks.names}}
        print(f"build_tasks: {name}: {len(members)} articles, {len(examples)} examples "
              f"{report[name]['examples_per_task']}, types {report[name]['types']}")
    write_json(report, args.report)


if __name__ == "__main__":
    run_stage(main)
