"""Stage plot: PNG figures of the model comparison, output lengths, type confusion, per-tag F1 and loss curves, and
the type confusion of the base and fine-tuned model as data for DVC's confusion plots."""

import argparse
from pathlib import Path

from pressft.errors import UserError, run_stage
from pressft.io import read_json, read_jsonl, write_json
from pressft.model.curves import read_curves
from pressft.presentation.plotting import (
    comparison_figure,
    confusion_figure,
    confusion_plot_data,
    corpus_note,
    lengths_figure,
    loss_figure,
    tags_figure,
)
from pressft.tasks import REGISTRY


def check_best_baselines(comparison: dict, metrics: dict, predictions: dict) -> None:
    """Every best baseline that comparison.json names must have been passed in, or its bars would silently vanish."""
    for task, entry in comparison.items():
        best = entry.get("best_baseline") if isinstance(entry, dict) else None
        if best and best not in metrics:
            raise UserError(
                f"comparison names {best} as the best {task} baseline: pass metrics/{best}.json to --metrics")
        if best and REGISTRY[task].kind != "label" and best not in predictions:
            # A label task's figure reads the confusion matrix from the metrics; the others need the predictions.
            raise UserError(f"comparison names {best} as the best {task} baseline: pass its predictions "
                            f"({best}.jsonl) to --predictions")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--metrics", required=True, nargs="+",
                        help="metrics JSON per model and baseline (file stem = model)")
    parser.add_argument("--comparison", required=True,
                        help="comparison JSON of the score stage (names the best baselines)")
    parser.add_argument("--predictions", required=True, nargs="+",
                        help="predictions JSONL per model and baseline (file stem = model, as for --metrics)")
    parser.add_argument("--train", required=True, help="training metrics JSON")
    parser.add_argument("--data", required=True,
                        help="data report of the fetch stage (says whether the corpus is synthetic)")
    parser.add_argument("--curves", required=True, help="dvclive folder of the training curves")
    parser.add_argument("--out", required=True)
    args = parser.parse_args()
    metrics = {Path(path).stem: read_json(path) for path in args.metrics}
    predictions = {Path(path).stem: read_jsonl(path) for path in args.predictions}
    comparison = read_json(args.comparison)
    check_best_baselines(comparison, metrics, predictions)
    train = read_json(args.train)
    note = corpus_note(read_json(args.data), train)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    train_rows, eval_rows = read_curves(args.curves)
    written = {
        "comparison.png": lambda path: comparison_figure(metrics, comparison, path, note),
        "lengths.png": lambda path: lengths_figure(predictions, comparison, path, note),
        "confusion.png": lambda path: confusion_figure(metrics, comparison, path, note),
        "tags.png": lambda path: tags_figure(predictions, comparison, path, note),
        "loss.png": lambda path: loss_figure(train_rows, eval_rows, train.get("best_step"), path, note),
    }
    for name, draw in written.items():
        draw(out / name)
    confusions = confusion_plot_data(metrics)
    for name, records in confusions.items():
        write_json(records, out / name)
    print(f"plot: wrote {', '.join([*written, *confusions])} to {out}")


if __name__ == "__main__":
    run_stage(main)
