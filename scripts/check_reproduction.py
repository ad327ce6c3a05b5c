"""Did `dvc repro` here reproduce the committed results? Compares every metric of the workspace with the commit's
(`dvc metrics diff`) and prints, per metrics file, how many values it compared and the largest difference.

    dvc repro && python scripts/check_reproduction.py               # against HEAD, tolerance 0 (bit-identical)
    python scripts/check_reproduction.py --rev v1 --tolerance 0.01

Exits with an error when a difference exceeds the tolerance. Timings, memory and throughput are the machine's,
not the run's, and are left out. The committed CPU configuration (fp32) is bit-identical on CPUs with AVX-512
with or without AMX at the same thread count (docs/gpu-and-machines.md, "Reproducibility"); bf16, other thread counts, other
library versions and GPUs are not, and need a tolerance.
"""

import argparse
import math

from pressft.errors import UserError, run_stage
from pressft.evaluation.reproduction import largest_differences, metrics_diff


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rev", default="HEAD", help="git revision with the committed metrics (default HEAD)")
    parser.add_argument("--tolerance", type=float, default=0.0, help="largest absolute difference allowed")
    args = parser.parse_args()
    if not args.tolerance >= 0:
        raise UserError(f"--tolerance must be 0 or more, got {args.tolerance}")
    report = largest_differences(metrics_diff(args.rev))
    if not report:
        raise UserError(f"no metrics to compare at {args.rev} or in the workspace; run `dvc repro` first")
    width = max(len(path) for path in report)
    over = []
    for path, row in report.items():
        if row["largest"] == 0:
            verdict = "identical"
        elif math.isinf(row["largest"]):
            verdict = f"{row['key']}: a text that changed, or a value on one side only"
        else:
            verdict = f"largest difference {row['largest']:.6g} ({row['key']})"
        print(f"{path:{width}}  {row['values']:4} values  {verdict}")
        if row["largest"] > args.tolerance:
            over.append(path)
    if over:
        raise UserError(f"{len(over)} metrics file(s) differ from {args.rev} by more than {args.tolerance:g}: "
                        f"{', '.join(over)}")
    print(f"check_reproduction: all {len(report)} metrics files match {args.rev} within {args.tolerance:g}")


if __name__ == "__main__":
    run_stage(main)
