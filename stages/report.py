"""Stage report: the markdown report (data, split, training, headline results, figures) from the metrics files."""

import argparse
import json
from pathlib import Path

from pressft.errors import run_stage
from pressft.params import load_params
from pressft.report import render_report


def read_json(path: str) -> dict:
    return json.loads(Path(path).read_text(encoding="utf-8"))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--data", required=True, help="data report JSON of the fetch stage")
    parser.add_argument("--splits", required=True, help="split report JSON of the build_tasks stage")
    parser.add_argument("--train", required=True, help="training metrics JSON")
    parser.add_argument("--metrics", required=True, nargs="+", help="metrics JSON per model (file stem = model)")
    parser.add_argument("--plots", required=True, help="folder of the plot stage's PNG figures")
    parser.add_argument("--out", required=True)
    args = parser.parse_args()
    metrics = {Path(path).stem: read_json(path) for path in args.metrics}
    figures = sorted(path.name for path in Path(args.plots).glob("*.png"))
    max_length = load_params()["model"]["max_length"]
    text = render_report(read_json(args.data), read_json(args.splits), read_json(args.train), metrics, figures, max_length)
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(text, encoding="utf-8")
    print(f"report: {args.out}")


if __name__ == "__main__":
    run_stage(main)
