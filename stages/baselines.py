"""Stage baselines: lead words, majority type, TF-IDF classifiers and the nearest articles' tags and type as models of
the comparison, trained on the same training articles as the LLM; one predictions file per baseline."""

import argparse
import time
from pathlib import Path

from pressft.data.splits import training_examples
from pressft.evaluation.baselines import covers, fit_and_predict
from pressft.errors import run_stage
from pressft.io import read_jsonl, write_json, write_jsonl
from pressft.config import load_config


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--pool", required=True)
    parser.add_argument("--val", required=True)
    parser.add_argument("--test", required=True)
    parser.add_argument("--out", required=True, help="predictions folder: <baseline>.jsonl per baseline")
    parser.add_argument("--choices", required=True, help="JSON of the settings chosen on the validation examples")
    args = parser.parse_args()
    config = load_config("train", "tasks")
    names = set(config.tasks.names)

    def examples(path: str) -> list[dict]:
        return [example for example in read_jsonl(path) if example["task"] in names]

    start = time.time()
    train = training_examples(examples(args.pool), config.train.size)
    predictions, choices = fit_and_predict(train, examples(args.val), examples(args.test))
    for name, records in predictions.items():
        write_jsonl(records, Path(args.out) / f"{name}.jsonl")
        tasks = [task for task in covers()[name] if task in {record["task"] for record in records}]
        print(f"baselines: {name}: {len(records)} predictions ({', '.join(tasks) or 'no task of tasks.names'}) "
              f"-> {Path(args.out) / f'{name}.jsonl'}")
    write_json(choices, args.choices)
    print(f"baselines: trained on {choices['train_articles']} articles in {time.time() - start:.0f}s; "
          f"choices on validation -> {args.choices}")


if __name__ == "__main__":
    run_stage(main)
