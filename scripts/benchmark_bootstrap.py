"""The bootstrap's macro-F1, side by side: scikit-learn once per resample (as the score stage did) against the
vectorised per-resample confusion counts it uses now, on the same resamples of one predictions file; checks that the
values agree and prints both times and their ratio.

    python scripts/benchmark_bootstrap.py                          # data/predictions/finetuned.jsonl, type task
    python scripts/benchmark_bootstrap.py --resamples 1000 --predictions data/predictions/base.jsonl
"""

import argparse
import time

import numpy as np

from pressft.errors import UserError, run_stage
from pressft.evaluation.metrics import _macro_f1, _resamples, headline_statistic
from pressft.io import read_jsonl
from pressft.tasks import REGISTRY, normalize_label


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--predictions", default="data/predictions/finetuned.jsonl")
    parser.add_argument("--task", default="type", help="a label task of the registry")
    parser.add_argument("--resamples", type=int, default=1000)
    args = parser.parse_args()
    spec = REGISTRY.get(args.task)
    if spec is None or spec.kind != "label":
        raise UserError(f"--task must be a label task ({', '.join(t for t, s in REGISTRY.items() if s.kind == 'label')})")
    records = sorted((r for r in read_jsonl(args.predictions) if r["task"] == args.task), key=lambda r: str(r["id"]))
    if not records:
        raise UserError(f"{args.predictions} has no {args.task} predictions")
    indices = _resamples(len(records), args.resamples, seed=0)
    refs = [r["reference"] for r in records]
    preds = [normalize_label(r["prediction"], spec.labels) or "<invalid>" for r in records]

    start = time.perf_counter()
    per_row = np.array([_macro_f1([refs[i] for i in row], [preds[i] for i in row], spec.labels) for row in indices])
    sklearn_seconds = time.perf_counter() - start
    start = time.perf_counter()
    vectorised = headline_statistic(args.task, records)(indices)
    vectorised_seconds = time.perf_counter() - start

    largest = float(np.max(np.abs(per_row - vectorised)))
    print(f"{args.task} macro-F1 on {args.resamples} resamples of {len(records)} articles ({args.predictions}):")
    print(f"  scikit-learn per resample  {sklearn_seconds:8.3f} s")
    print(f"  vectorised                 {vectorised_seconds:8.4f} s   ({sklearn_seconds / vectorised_seconds:.0f}x)")
    print(f"  largest difference         {largest:.1e}")
    if largest > 1e-12:
        raise SystemExit("error: the two computations disagree")


if __name__ == "__main__":
    run_stage(main)
