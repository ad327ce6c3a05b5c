"""Results that hold on another machine of this kind: fp32 training gives the same adapter bytes whether or not the
CPU's AMX is used (the other machine is emulated by capping oneDNN's and MKL's instruction sets; only a CPU with AMX
can show it, elsewhere the caps change nothing and the tests show run-to-run determinism only), and the check that
compares a run's metrics with the committed ones."""

import json
import math
import os
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import pytest

from pressft.tasks import REGISTRY
from pressft.config import LoraConfig, as_dict
from pressft.evaluation.reproduction import MACHINE_DEPENDENT, WITHOUT_AMX, largest_differences, verdict
from pressft.tasks import make_examples

REPO = Path(__file__).resolve().parents[1]

# ------------------------------------------------------------------ comparing metrics


def change(old, new):
    return {"old": old, "new": new, "diff": None if old is None or new is None else new - old}


def test_identical_metrics_have_largest_difference_zero():
    report = largest_differences({"metrics/a.json": {"x": change(0.5, 0.5), "y.z": change(3, 3), "n": change(0, 0)}})
    assert report == {"metrics/a.json": {"values": 3, "largest": 0.0, "key": "n", "old": 0, "new": 0}}
    assert verdict(report["metrics/a.json"], 0.0) == (True, "identical")


def test_the_largest_relative_difference_and_its_key_per_file():
    report = largest_differences({
        # 0.1 apart on 773 is relatively less than 0.0001 apart on 0.76.
        "metrics/a.json": {"type.perplexity": change(773.6545, 773.6467), "final_train_loss": change(0.7603, 0.7602)},
        "metrics/b.json": {"perplexity": change(2.0, 2.0)},
    })
    row = report["metrics/a.json"]
    assert (row["key"], row["old"], row["new"]) == ("final_train_loss", 0.7603, 0.7602)
    assert row["largest"] == pytest.approx(0.0001 / 0.7603)
    assert report["metrics/b.json"]["largest"] == 0.0


def test_a_difference_within_the_relative_tolerance_passes_and_says_where():
    row = largest_differences({"m.json": {"loss": change(0.7603, 0.7602), "ppl": change(34.7765, 34.7763)}})["m.json"]
    assert verdict(row, 1.5e-4) == (True, "within rtol 0.00015: largest relative difference 1.32e-04 "
                                          "(loss: 0.7603 -> 0.7602)")
    assert verdict(row, 1.3e-4) == (False, "differs: largest relative difference 1.32e-04 (loss: 0.7603 -> 0.7602)")
    assert verdict(row, 0.0)[0] is False


def test_machine_measurements_are_left_out():
    diff = {"metrics/train.json": {key: change(1.0, 2.0) for key in MACHINE_DEPENDENT} | {"steps": change(8, 8)}}
    assert largest_differences(diff)["metrics/train.json"] == {"values": 1, "largest": 0.0, "key": "steps",
                                                               "old": 8, "new": 8}


def test_a_metric_on_one_side_only_or_nan_on_one_side_does_not_reproduce():
    report = largest_differences({"m.json": {"gone": change(0.3, None)}, "n.json": {"nan": change(math.nan, 0.1)},
                                  "o.json": {"both_nan": change(math.nan, math.nan)}})
    assert math.isinf(report["m.json"]["largest"]) and report["m.json"]["key"] == "gone"
    assert verdict(report["m.json"], 1.0) == (False, "differs: gone: a text that changed, or a value on one side only")
    assert math.isinf(report["n.json"]["largest"]) and not verdict(report["n.json"], 1.0)[0]
    assert report["o.json"]["largest"] == 0.0


def test_strings_and_flags_compare_by_equality():
    report = largest_differences({"c.json": {"verdict": change_text("tie", "worse"), "name": change_text("a", "a"),
                                             "synthetic": change_text(True, True)}})
    assert math.isinf(report["c.json"]["largest"]) and report["c.json"]["key"] == "verdict"
    assert not verdict(report["c.json"], 1.0)[0]  # no tolerance lets a changed text through
    same = largest_differences({"c.json": {"name": change_text("a", "a"), "synthetic": change_text(True, True)}})
    assert same["c.json"]["largest"] == 0.0 and same["c.json"]["values"] == 2


def change_text(old, new):
    return {"old": old, "new": new}


def test_check_reproduction_outside_a_dvc_repository_is_one_line(tmp_path):
    done = subprocess.run([sys.executable, str(REPO / "scripts/check_reproduction.py")], cwd=tmp_path,
                          capture_output=True, text=True)
    assert done.returncode == 2
    assert done.stderr.startswith("error: dvc metrics diff HEAD failed") and done.stderr.count("\n") == 1


def test_check_reproduction_exits_with_an_error_only_beyond_the_tolerance(tmp_path):
    """A committed metrics file, then the workspace's in the last digit of a loss: within --rtol 1.5e-4, not 1e-4."""
    def git(*args):
        subprocess.run(["git", "-c", "user.name=t", "-c", "user.email=t@t", *args], cwd=tmp_path, check=True,
                       capture_output=True)

    git("init", "-q")
    subprocess.run([sys.executable, "-m", "dvc", "init", "-q"], cwd=tmp_path, check=True, capture_output=True)
    (tmp_path / "dvc.yaml").write_text("metrics:\n- train.json\n")
    (tmp_path / "train.json").write_text(json.dumps({"final_train_loss": 0.7603, "steps": 35}))
    git("add", "-A")
    git("commit", "-qm", "results")
    (tmp_path / "train.json").write_text(json.dumps({"final_train_loss": 0.7602, "steps": 35}))

    def check(rtol):
        return subprocess.run([sys.executable, str(REPO / "scripts/check_reproduction.py"), "--rtol", rtol],
                              cwd=tmp_path, capture_output=True, text=True)

    within, beyond = check("1.5e-4"), check("1e-4")
    assert within.returncode == 0, within.stderr
    assert "train.json     2 values  within rtol 0.00015: largest relative difference 1.32e-04" in within.stdout
    assert "check_reproduction: all 1 metrics files match HEAD within rtol 0.00015" in within.stdout
    assert beyond.returncode == 2 and "train.json     2 values  differs: largest relative" in beyond.stdout
    assert beyond.stderr == "error: 1 metrics file(s) differ from HEAD by more than rtol 0.0001: train.json\n"


@pytest.mark.parametrize("rtol", ["-1", "nan"])
def test_check_reproduction_rejects_a_negative_tolerance(tmp_path, rtol):
    done = subprocess.run([sys.executable, str(REPO / "scripts/check_reproduction.py"), "--rtol", rtol],
                          cwd=tmp_path, capture_output=True, text=True)
    assert done.returncode == 2 and done.stderr == f"error: --rtol must be 0 or more, got {float(rtol)}\n"


# ------------------------------------------------------------------ training under two instruction-set caps

CHILD = """
import json, sys
from pressft.config import parse_config
from pressft.model.training import train_lora
from pressft.io import read_jsonl
base, examples, params, out = sys.argv[1:]
rows = read_jsonl(examples)
config = parse_config(json.loads(open(params).read()), "train", "model")
train_lora(base, rows[:16], rows[16:20], config.train, config.model, out + "/adapter", out + "/work")
"""


def has_amx() -> bool:
    try:
        return "amx_bf16" in Path("/proc/cpuinfo").read_text()
    except OSError:
        return False


@pytest.fixture
def isa_run(saved_model_dir, normalised_articles, config, tmp_path):
    """Train the tiny model on 16 examples in a child process under an environment; return the adapter's bytes."""
    examples = [e for a in normalised_articles(6) for e in make_examples(a, list(REGISTRY), config.tasks.prompts)]
    (tmp_path / "examples.jsonl").write_text("".join(json.dumps(e) + "\n" for e in examples))
    lora = LoraConfig(r=4, alpha=8, dropout=0.0, target_modules=("q_proj", "v_proj", "up_proj"))
    train = replace(config.train, epochs=1, batch_size=2, eval_steps=4, warmup_steps=0, lr=0.01, lora=lora)
    model = replace(config.model, max_length=512)

    def run(name: str, precision: str, env: dict[str, str]) -> bytes:
        params = {"train": as_dict(replace(train, precision=precision)), "model": as_dict(model)}
        (tmp_path / f"{name}.json").write_text(json.dumps(params))
        clean = {k: v for k, v in os.environ.items() if k not in WITHOUT_AMX}  # the default: every ISA there is
        subprocess.run([sys.executable, "-c", CHILD, str(saved_model_dir), str(tmp_path / "examples.jsonl"),
                        str(tmp_path / f"{name}.json"), str(tmp_path / name)], env={**clean, **env}, check=True,
                       capture_output=True)
        return (tmp_path / name / "adapter/adapter_model.safetensors").read_bytes()

    return run


NO_AMX = "the caps change nothing on a CPU without AMX: both runs would take one kernel path"


@pytest.mark.skipif(not has_amx(), reason=NO_AMX)
def test_fp32_training_gives_the_same_adapter_with_and_without_amx(isa_run):
    assert isa_run("fp32-all", "fp32", {}) == isa_run("fp32-capped", "fp32", WITHOUT_AMX)


@pytest.mark.skipif(has_amx(), reason="shown by the test with and without AMX, whose runs also repeat")
def test_fp32_training_repeats_byte_for_byte(isa_run):
    """Where the CPU has no AMX, what can be shown here: two runs give the same adapter bytes. That fp32 results hold
    across CPUs is for a CPU with AMX to show (above), or for a run on another machine (docs/gpu-and-machines.md)."""
    assert isa_run("fp32-first", "fp32", {}) == isa_run("fp32-second", "fp32", {})


@pytest.mark.skipif(not has_amx(), reason=NO_AMX)
def test_bf16_training_differs_with_and_without_amx(isa_run):
    """The control: the caps do change the kernels, so the fp32 test with and without AMX could fail."""
    assert isa_run("bf16-all", "bf16", {}) != isa_run("bf16-capped", "bf16", WITHOUT_AMX)
