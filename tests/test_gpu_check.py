"""The GPU check script runs the project's training and generation code; on CPU with the tiny shape it must
finish and print its summary table (the 1B shape needs a GPU and says so)."""

import json
import subprocess
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def test_tiny_shape_runs_on_cpu_and_reports(tmp_path):
    out = tmp_path / "gpu_check.json"
    done = subprocess.run([str(REPO / "scripts/gpu_check.sh"), "--shape", "tiny", "--out", str(out)],
                          capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    assert "| run | tokens/s | seconds | peak memory GiB | MFU (6N) |" in done.stdout
    assert "QLoRA skipped (needs a CUDA GPU" in done.stdout
    result = json.loads(out.read_text())
    assert result["shape"] == "tiny" and result["parameters"] > 0
    lora, generation = result["rows"]
    assert lora["run"].startswith("LoRA r32") and lora["steps"] == 8 and lora["tokens_per_second"] > 0
    assert lora["mfu"] is None  # no GPU peak to compare against
    assert generation["prompts"] == 32 * 4 and generation["generated_tokens"] > 0
    speed = result["speed"]
    assert speed["prompts"] == 8 * 4 and len(speed["rows"]) == 5 and speed["rows"][0]["speedup"] == 1.0
    assert "the reference study's generation against this project's" in done.stdout


def test_1b_shape_without_a_gpu_is_one_line():
    done = subprocess.run([str(REPO / "scripts/gpu_check.sh")], capture_output=True, text=True, timeout=120)
    assert done.returncode == 1
    assert done.stderr == "error: the 1b shape needs a CUDA GPU; run with --shape tiny on CPU\n"
