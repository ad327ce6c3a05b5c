"""Stage score: one metrics JSON per model from its test-set predictions."""

import argparse
import json
from pathlib import Path

from pressft.errors import run_stage
from pressft.metrics import HEADLINE, score_predictions
from pressft.params import load_params
from pressft.sources import read_records


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--predictions", required=True, nargs="+", help="predictions JSONL files, one per model")
    parser.add_argument("--out", required=True, help="metrics folder: <model>.json per predictions file")
    args = parser.parse_args()
    score = load_params()["score"]
    for path in map(Path, args.predictions):
        metrics = score_predictions(
            read_records(path), bertscore_model=score["bertscore_model"], bertscore_layers=score["bertscore_layers"]
        )
        out = Path(args.out) / f"{path.stem}.json"
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(json.dumps(metrics, indent=2) + "\n")
        headline = {task: metrics[task].get(key) for task, key in HEADLINE.items() if task in metrics}
        print(f"score: {path.stem}: {headline} -> {out}")


if __name__ == "__main__":
    run_stage(main)
