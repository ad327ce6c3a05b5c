"""Did `dvc repro` here reproduce the committed results? Compares every metric of the workspace with the commit's
(`dvc metrics diff`) and prints, per metrics file, how many values it compared and whether they are identical, within
the relative tolerance (with the largest relative difference and where), or differ.

    dvc repro && python scripts/check_reproduction.py               # against HEAD, bit-identical
    python scripts/check_reproduction.py --rtol 1.5e-4               # a CPU without AVX-512 (measured, see below)
    python scripts/check_reproduction.py --rev v1 --rtol 0.01

Exits with an error only when a value differs by more than the tolerance. Timings, memory and throughput are the
machine's, not the run's, and are left out. The committed CPU configuration (fp32) is bit-identical on one vendor's
CPUs with AVX-512 at the same thread count, as measured: an Intel CPU with and without its AMX, an AMD Zen 4 and a
Zen 5. Between Intel and AMD the base model's perplexities differed in their last digits (--rtol 3e-6), and a CPU
without AVX-512 in the last digits of perplexities and losses (docs/gpu-and-machines.md, "Reproducibility"). bf16,
other thread counts, other library versions and GPUs need a tolerance of their own.
"""

import argparse

from pressft.errors import UserError, run_stage
from pressft.evaluation.reproduction import largest_differences, metrics_diff, verdict


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rev", default="HEAD", help="git revision with the committed metrics (default HEAD)")
    parser.add_argument("--rtol", type=float, default=0.0,
                        help="largest relative difference allowed, |new - old| / max(|old|, |new|) (default 0)")
    args = parser.parse_args()
    if not args.rtol >= 0:
        raise UserError(f"--rtol must be 0 or more, got {args.rtol}")
    report = largest_differences(metrics_diff(args.rev))
    if not report:
        raise UserError(f"no metrics to compare at {args.rev} or in the workspace; run `dvc repro` first")
    width = max(len(path) for path in report)
    over = []
    for path, row in report.items():
        ok, words = verdict(row, args.rtol)
        print(f"{path:{width}}  {row['values']:4} values  {words}")
        if not ok:
            over.append(path)
    if over:
        raise UserError(f"{len(over)} metrics file(s) differ from {args.rev} by more than rtol {args.rtol:g}: "
                        f"{', '.join(over)}")
    print(f"check_reproduction: all {len(report)} metrics files match {args.rev} within rtol {args.rtol:g}")


if __name__ == "__main__":
    run_stage(main)
