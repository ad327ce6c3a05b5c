"""Stage plot: PNG figures of the comparison and the loss curves."""

import argparse
import csv
import json
from pathlib import Path

from pressft.errors import run_stage
from pressft.plotting import comparison_figure, lengths_figure, loss_figure


def read_csv(path: Path) -> list[dict]:
    with path.open(newline="") as rows:
        return [{key: float(value) for key, value in row.items() if value} for row in csv.DictReader(rows)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--metrics", required=True, nargs="+", help="metrics JSON per model (file stem = model)")
    parser.add_argument("--train", required=True, help="training metrics JSON")
    parser.add_argument("--data", required=True, help="data report of the fetch stage (says whether the corpus is synthetic)")
    parser.add_argument("--curves", required=True, help="folder with train.csv and eval.csv")
    parser.add_argument("--out", required=True)
    args = parser.parse_args()
    metrics = {Path(path).stem: json.loads(Path(path).read_text()) for path in args.metrics}
    train = json.loads(Path(args.train).read_text())
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    corpus = "SYNTHETIC corpus" if json.loads(Path(args.data).read_text())["synthetic"] else "real articles"
    comparison_figure(metrics, out / "comparison.png", f"\n(fine-tuned on {train['train_articles']} articles, {corpus})")
    lengths_figure(metrics, out / "lengths.png")
    curves = Path(args.curves)
    loss_figure(read_csv(curves / "train.csv"), read_csv(curves / "eval.csv"), train["best_step"], out / "loss.png")
    print(f"plot: comparison.png, lengths.png, loss.png -> {out}")


if __name__ == "__main__":
    run_stage(main)
