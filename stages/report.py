"""Stage report: the markdown report (summary, model and training, data, per-task results with intervals,
article types, perplexity, examples, figures) from the metrics and predictions."""

import argparse
from pathlib import Path

from pressft.config import load_config
from pressft.errors import run_stage
from pressft.io import read_json, read_jsonl
from pressft.presentation.report import render_report


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--base", required=True, help="base model directory (its pressft_base.json)")
    parser.add_argument("--data", required=True, help="data report JSON of the fetch stage")
    parser.add_argument("--splits", required=True, help="split report JSON of the build_tasks stage")
    parser.add_argument("--train", required=True, help="training metrics JSON")
    parser.add_argument("--metrics", required=True, nargs="+", help="metrics JSON per model (file stem = model)")
    parser.add_argument("--comparison", required=True, help="paired comparison JSON of the score stage")
    parser.add_argument("--choices", required=True, help="the baselines' choices on validation (baselines stage)")
    parser.add_argument("--test", required=True, help="test task examples")
    parser.add_argument("--predictions", required=True, nargs="+", help="base and fine-tuned predictions JSONL")
    parser.add_argument("--plots", required=True, help="folder of the plot stage's PNG figures")
    parser.add_argument("--out", required=True)
    args = parser.parse_args()
    text = render_report(
        config=load_config("model", "train", "infer", "tasks"),
        base=read_json(Path(args.base) / "pressft_base.json"),
        data=read_json(args.data),
        splits=read_json(args.splits),
        train=read_json(args.train),
        metrics={Path(path).stem: read_json(path) for path in args.metrics},
        comparison=read_json(args.comparison),
        choices=read_json(args.choices),
        tests=read_jsonl(args.test),
        predictions={Path(path).stem: read_jsonl(path) for path in args.predictions},
        figures=sorted(path.name for path in Path(args.plots).glob("*.png")),
    )
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(text, encoding="utf-8")
    print(f"report: {args.out}")


if __name__ == "__main__":
    run_stage(main)
