"""Stage build_tasks: split per article (fixed test/val, seeded train pool) and write the four tasks as chat examples."""

import argparse
import json
from pathlib import Path

from pressft.errors import run_stage
from pressft.params import load_params
from pressft.sources import read_records, write_jsonl
from pressft.splits import split_articles, type_counts
from pressft.tasks import make_examples


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--articles", required=True)
    parser.add_argument("--splits", required=True, help="output folder for the articles of each split")
    parser.add_argument("--tasks", required=True, help="output folder for the task examples of each split")
    args = parser.parse_args()
    params = load_params()
    split, tasks = params["split"], params["tasks"]
    splits = split_articles(read_records(args.articles), split["test"], split["val"], split["seed"])
    summary = {}
    for name, articles in splits.items():
        write_jsonl(articles, Path(args.splits) / f"{name}.jsonl")
        examples = []
        for rank, article in enumerate(articles):
            for example in make_examples(article, tasks["names"], tasks["prompts"]):
                examples.append({**example, "rank": rank})
        write_jsonl(examples, Path(args.tasks) / f"{name}.jsonl")
        summary[name] = {"articles": len(articles), "examples": len(examples), "types": type_counts(articles)}
        print(f"build_tasks: {name}: {len(articles)} articles, {len(examples)} examples, types {summary[name]['types']}")
    (Path(args.splits) / "summary.json").write_text(json.dumps(summary, indent=2) + "\n")


if __name__ == "__main__":
    run_stage(main)
