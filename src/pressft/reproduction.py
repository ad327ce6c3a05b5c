"""Does a run reproduce the committed results? The metrics of the workspace against those of a git revision, file by
file (through `dvc metrics diff`), and the CPU instruction-set caps that make one machine compute like another.

Committed CPU runs are fp32 (train.precision, infer.dtype): PyTorch's fp32 matmuls go through MKL's AVX-512 code
path whether or not the CPU has AMX, so the adapter, the predictions and every metric come out bit-identical on
CPUs with AVX-512, with or without AMX and AVX512-BF16, at the same thread count. bf16 goes through oneDNN, which
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


def largest_differences(diff: dict[str, dict[str, dict[str, Any]]]) -> dict[str, dict[str, Any]]:
    """Per metrics file of `dvc metrics diff --all --json` output: how many values were compared, the largest
    absolute difference and its key.

    A value on one side only counts as an infinite difference: a run that lost (or gained) a metric has not
    reproduced the other. Keys in MACHINE_DEPENDENT are left out.
    """
    report = {}
    for path in sorted(diff):
        largest, where, compared = 0.0, None, 0
        for key, change in sorted(diff[path].items()):
            if key.rsplit(".", 1)[-1] in MACHINE_DEPENDENT:
                continue
            compared += 1
            old, new = change.get("old"), change.get("new")
            gap = math.inf if old is None or new is None else abs(float(new) - float(old))
            if math.isnan(gap):  # NaN on both sides reproduces; NaN on one side does not
                gap = 0.0 if math.isnan(float(old)) and math.isnan(float(new)) else math.inf
            if where is None or gap > largest:
                largest, where = gap, key
        report[path] = {"values": compared, "largest": largest, "key": where}
    return report


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
