"""The inference benchmark measures the reference's method and this project's ingredients on the same prompts,
and accounts for the prompt tokens run, padding and decode slots."""

import copy
import json
import re
import subprocess
import sys
from pathlib import Path

import torch

from pressft.tasks import REGISTRY
from benchmarking import compare_methods, median_step_speed
from pressft.tasks import make_examples

DATE = "26 Jul 2024"
LIMITS = {"summarization": 6, "title": 4, "tags": 5, "type": 3}
REPO = Path(__file__).resolve().parents[1]
TRAINING_BENCHMARK = str(REPO / "scripts/benchmark_training.py")


def test_methods_are_compared_on_the_same_prompts(tiny_model, tokenizer, normalised_articles, config):
    examples = [e for a in normalised_articles(6) for e in make_examples(a, list(REGISTRY), config.tasks.prompts)]
    rows = compare_methods(tiny_model, tiny_model, tokenizer, examples, max_new_tokens=LIMITS, max_length=512,
                           date_string=DATE, batch_size=4, low_precision=torch.bfloat16)
    assert [row["method"].split(":")[0] for row in rows] == [
        "reference", "batches in arrival order, greedy", "+ grouped by task, sorted by length",
        "+ task prefix computed once, static KV cache", "+ bfloat16 weights", "control"]  # no adapter: no merge row
    assert [row["role"] for row in rows] == ["reference", "step", "step", "step", "project", "control"]
    reference, plain, grouped, prefix, low, control = rows
    assert "adapter" not in reference["method"]
    assert reference["speedup"] == 1.0 and reference["prompt_tokens_run_share"] == 1.0  # one prompt: no padding
    assert reference["wasted_decode_share"] == 0.0
    # Same model, same greedy decoding: grouping and the reused prefix change only the work, not the tokens.
    assert grouped["generated_tokens"] == prefix["generated_tokens"]
    assert 1.0 <= grouped["prompt_tokens_run_share"] <= plain["prompt_tokens_run_share"]
    # Every prompt starts with the chat header and system message, which now runs once per task.
    assert prefix["prompt_tokens_run"] < reference["prompt_tokens_run"] < grouped["prompt_tokens_run"]
    assert low["prompt_tokens_run"] == prefix["prompt_tokens_run"]
    for row in rows:
        assert row["seconds"] > 0 and row["prefill_seconds"] >= 0
        assert abs(row["decode_seconds"] - max(row["seconds"] - row["prefill_seconds"], 0)) <= 0.011  # rounding
        assert 0 <= row["wasted_decode_share"] < 1
        assert row["speedup"] == round(reference["seconds"] / row["seconds"], 2)
    assert tiny_model.dtype == torch.float32  # the bf16 rows ran on copies


def test_an_adapter_adds_the_merge_step(tiny_model, tokenizer, normalised_articles, config):
    examples = [e for a in normalised_articles(2) for e in make_examples(a, ["type"], config.tasks.prompts)]
    rows = compare_methods(copy.deepcopy(tiny_model), tiny_model, tokenizer, examples, max_new_tokens=LIMITS,
                           max_length=512, date_string=DATE, batch_size=2)
    assert [row["method"] for row in rows][3] == "+ adapter merged" and rows[-1]["role"] == "project"
    assert "adapter unmerged" in rows[0]["method"]


def test_headline_rows_are_the_reference_and_the_project(tiny_model, tokenizer, normalised_articles, config):
    examples = [e for a in normalised_articles(2) for e in make_examples(a, ["title", "type"], config.tasks.prompts)]
    rows = compare_methods(copy.deepcopy(tiny_model), tiny_model, tokenizer, examples, max_new_tokens=LIMITS,
                           max_length=512, date_string=DATE, batch_size=2, steps=False)
    assert [(row["method"], row["role"]) for row in rows] == [
        ("reference: one at a time, sampled, adapter unmerged (float32)", "reference"),
        ("this project (infer stage)", "project")]
    assert rows[1]["speedup"] == round(rows[0]["seconds"] / rows[1]["seconds"], 2)



def test_the_median_step_leaves_out_one_off_costs():
    # 50, 100 and 10 tokens/s: a compiling first step and a recompiling last do not move the median step.
    assert median_step_speed([(2.0, 100), (1.0, 100), (10.0, 100)]) == 50.0
    assert median_step_speed([(300.0, 3072), (12.0, 3072), (12.5, 3000), (11.0, 2900), (200.0, 196)]) == 240.0

def test_training_benchmark_runs_every_setting_and_prints_ratios(saved_model_dir, normalised_articles, config,
                                                                   tmp_path):
    rows = []
    for rank, article in enumerate(normalised_articles(5)):
        rows += [dict(e, rank=rank) for e in make_examples(article, list(REGISTRY), config.tasks.prompts)]
    (tmp_path / "pool.jsonl").write_text("".join(json.dumps(row) + "\n" for row in rows[:16]))
    (tmp_path / "val.jsonl").write_text("".join(json.dumps(row) + "\n" for row in rows[16:]))
    # The committed params, with room for the tiny tokenizer's long prompts (its vocabulary has 300 tokens).
    text = (REPO / "params.yaml").read_text()
    (tmp_path / "params.yaml").write_text(text.replace("  max_length: 224\n", "  max_length: 512\n", 1))
    done = subprocess.run(
        [sys.executable, TRAINING_BENCHMARK, "--base", str(saved_model_dir), "--pool",
         str(tmp_path / "pool.jsonl"), "--val", str(tmp_path / "val.jsonl"), "--articles", "3", "--rounds", "1"],
        cwd=tmp_path, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    table = re.findall(r"^\| ([^|]+) \| (fp32|bf16) \| ([\d,.]+) \| ([\d.]+)× \| ([\d,.]+) \| ([\d.]+)× \| [\d.]+% \| "
                       r"([\d.]+)% \| ([\d.]+) \| ([\d.]+) \|$", done.stdout, re.M)
    stage = "train stage: trl, answer-token loss, eager attention, length grouping"
    assert [row[:2] for row in table] == [
        ("plain LoRA loop (reference)", "fp32"), (stage, "fp32"),
        ("train stage with the LM head at every column where some row answers", "fp32"),
        ("train stage with sdpa attention", "fp32"),
        ("train stage with sdpa attention and peft's multiply by the LoRA scaling of 1", "fp32"),
        ("train stage with trl's own (fused LM head) loss", "fp32"),
        ("plain LoRA loop (reference)", "bf16"), (stage, "bf16")]
    # Each precision is measured against the plain loop in that precision, over the whole run and by the median step.
    assert table[0][3] == table[0][5] == table[6][3] == table[6][5] == "1.00"
    assert all(float(row[2].replace(",", "")) > 0 and float(row[4].replace(",", "")) > 0 for row in table)
    assert all(0 <= float(row[6]) <= 100 for row in table)  # the kernel's share of each training's CPU time
    assert re.search(r"^train stage in bf16 against the plain loop in fp32: [\d.]+×$", done.stdout, re.M)
    # The ingredients change the speed, not what is learnt: every setting ends near the same eval loss.
    eval_losses = [float(row[8]) for row in table]
    assert max(eval_losses) - min(eval_losses) < 0.05 * min(eval_losses), eval_losses
    # The LM head at each row's own answer positions computes the same loss as at the columns: the same run in fp32.
    assert table[1][7:] == table[2][7:]
    # So does skipping the multiply by a LoRA scaling of 1 (alpha = r in the committed params).
    assert table[3][7:] == table[4][7:]


def test_training_benchmark_also_runs_each_setting_on_avx2_code_paths(saved_model_dir, normalised_articles, config,
                                                                      tmp_path):
    rows = []
    for rank, article in enumerate(normalised_articles(3)):
        rows += [dict(e, rank=rank) for e in make_examples(article, ["title", "type"], config.tasks.prompts)]
    (tmp_path / "pool.jsonl").write_text("".join(json.dumps(row) + "\n" for row in rows[:4]))
    (tmp_path / "val.jsonl").write_text("".join(json.dumps(row) + "\n" for row in rows[4:]))
    text = (REPO / "params.yaml").read_text()
    (tmp_path / "params.yaml").write_text(text.replace("  max_length: 224\n", "  max_length: 512\n", 1))
    done = subprocess.run(
        [sys.executable, TRAINING_BENCHMARK, "--base", str(saved_model_dir), "--pool", str(tmp_path / "pool.jsonl"),
         "--val", str(tmp_path / "val.jsonl"), "--articles", "2", "--only", "project", "--avx2"],
        cwd=tmp_path, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    table = re.findall(r"^\| ([^|]+) \| fp32 \| [\d,.]+ \| ([\d.]+)× \|", done.stdout, re.M)
    stage = "train stage: trl, answer-token loss, eager attention, length grouping"
    # Each setting beside its capped run; the capped plain loop is what the capped settings are measured against.
    assert table == [("plain LoRA loop (reference)", "1.00"), ("plain LoRA loop (reference), AVX2 code paths", "1.00"),
                     (stage, table[2][1]), (stage + ", AVX2 code paths", table[3][1])]
    # The caps reached the child processes: ATen ran its AVX2 kernels there, whatever this CPU has.
    summary = re.findall(r"^  (plain|project): kernels (\w+) -> (\w+), [\d.]+× the speed, (.+)$", done.stdout, re.M)
    assert [row[0] for row in summary] == ["plain", "project"] and all(row[2] == "AVX2" for row in summary)
    assert all(row[3] == "the same losses" or row[3].startswith("losses differ: ") for row in summary)


def test_training_benchmark_refuses_an_unknown_setting_in_one_line(tmp_path):
    done = subprocess.run([sys.executable, TRAINING_BENCHMARK, "--only", "bf16,fast"], cwd=tmp_path,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 2
    assert done.stderr == ("error: --only must name settings of plain, project, columns, sdpa, scaling, compile, "
                           "trl-loss, r16, plain-bf16, bf16; got 'bf16,fast'\n")
