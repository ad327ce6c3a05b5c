"""Does a run reproduce the committed results? The metrics of the workspace against those of a git revision, file by
file (through `dvc metrics diff`), and the CPU instruction-set caps that make one machine compute like another.

Committed CPU runs are fp32 (train.precision, infer.dtype): PyTorch's fp32 matmuls go through MKL's AVX-512 code
path whether or not the CPU has AMX, so the adapter, the predictions and every metric come out bit-identical on
CPUs with AVX-512, with or without AMX and AVX512-BF16, at the same thread count; a CPU with AVX2 and no AVX-512
differs in the last digits of perplexities and losses (docs/gpu-and-machines.md). bf16 goes through oneDNN, which
uses AMX where there is one and rounds differently there: one ISA's bf16 run is not another's.
"""

import math
from typing import Any

# Keys of the metrics files that measure the machine or the run's history, not its result.
MACHINE_DEPENDENT = frozenset({"runtime_seconds", "tokens_per_second", "peak_memory_gib", "peak_memory_kind",
                               "resumed_from_step"})

# Environment that makes a CPU with AMX compute as one with AVX512-BF16 and no AMX (the other machine of this kind):
# oneDNN (bf16 matmuls) and MKL (fp32 matmuls) capped below AMX. Read by each library when it first loads.
WITHOUT_AMX = {"ONEDNN_MAX_CPU_ISA": "AVX512_CORE_BF16", "MKL_ENABLE_INSTRUCTIONS": "AVX512"}
# Environment that makes a CPU with AVX-512 run the code paths of one with AVX2 only (most laptops): ATen's own
# vectorised kernels (element-wise work, softmax, RMSNorm's reductions, sdpa attention) at 8 fp32 lanes instead of 16,
# which sums in another order, and oneDNN and MKL capped alike. The clock and the cache of another CPU stay this one's.
AVX2_ONLY = {"ATEN_CPU_CAPABILITY": "avx2", "ONEDNN_MAX_CPU_ISA": "AVX2", "MKL_ENABLE_INSTRUCTIONS": "AVX2"}


def _relative_gap(old: Any, new: Any) -> float:
    """|new - old| relative to the larger of the two (as math.isclose) for two numbers; for anything else (a verdict,
    a model name, a flag) 0 if equal, else infinite, as for a value on one side only. NaN on both sides reproduces;
    NaN on one side does not."""
    def number(value: Any) -> bool:
        return isinstance(value, (int, float)) and not isinstance(value, bool)

    if not (number(old) and number(new)):
        return 0.0 if old is not None and old == new else math.inf
    if math.isnan(old) or math.isnan(new):
        return 0.0 if math.isnan(old) and math.isnan(new) else math.inf
    if old == new:
        return 0.0
    return abs(float(new) - float(old)) / max(abs(float(old)), abs(float(new)))


def largest_differences(diff: dict[str, dict[str, dict[str, Any]]]) -> dict[str, dict[str, Any]]:
    """Per metrics file of `dvc metrics diff --all --json` output: how many values were compared, the largest
    relative difference, its key and the two values there.

    A value on one side only, or a changed string, counts as an infinite difference: a run that lost (or gained) a
    metric, or changed a verdict, has not reproduced the other. Keys in MACHINE_DEPENDENT are left out.
    """
    report = {}
    for path in sorted(diff):
        row = {"values": 0, "largest": 0.0, "key": None, "old": None, "new": None}
        for key, change in sorted(diff[path].items()):
            if key.rsplit(".", 1)[-1] in MACHINE_DEPENDENT:
                continue
            row["values"] += 1
            gap = _relative_gap(change.get("old"), change.get("new"))
            if row["key"] is None or gap > row["largest"]:
                row.update(largest=gap, key=key, old=change.get("old"), new=change.get("new"))
        report[path] = row
    return report


def verdict(row: dict[str, Any], rtol: float) -> tuple[bool, str]:
    """Whether one file's row of largest_differences reproduces within the relative tolerance, and the words that
    say how: identical, within the tolerance (and where it is largest), or differing."""
    if row["largest"] == 0:
        return True, "identical"
    if math.isinf(row["largest"]):
        return False, f"differs: {row['key']}: a text that changed, or a value on one side only"
    where = f"largest relative difference {row['largest']:.2e} ({row['key']}: {row['old']} -> {row['new']})"
    if row["largest"] <= rtol:
        return True, f"within rtol {rtol:g}: {where}"
    return False, f"differs: {where}"


def metrics_diff(rev: str, repo: str = ".") -> dict[str, dict[str, dict[str, Any]]]:
    """`dvc metrics diff <rev> --all --json`: every metric of the pipeline, at rev and in the workspace."""
    import json
    import subprocess
    import sys

    from pressft.errors import UserError

    done = subprocess.run([sys.executable, "-m", "dvc", "metrics", "diff", rev, "--all", "--json"], cwd=repo,
                          capture_output=True, text=True)
    if done.returncode != 0:
        last = (done.stderr.strip().splitlines() or ["no output"])[-1].removeprefix("ERROR: ")
        raise UserError(f"dvc metrics diff {rev} failed: {last}")
    return json.loads(done.stdout or "{}")
