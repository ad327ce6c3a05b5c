"""The inference benchmark measures the reference's method and this project's ingredients on the same prompts,
and accounts for the prompt tokens run, padding and decode slots."""

import torch

from pressft import TASKS
from pressft.benchmark import compare_methods
from pressft.tasks import make_examples

DATE = "26 Jul 2024"
LIMITS = {"summarization": 6, "title": 4, "tags": 5, "type": 3}


def test_methods_are_compared_on_the_same_prompts(tiny_model, tokenizer, normalised_articles, params):
    examples = [e for a in normalised_articles(6) for e in make_examples(a, list(TASKS), params["tasks"]["prompts"])]
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


def test_an_adapter_adds_the_merge_step(tiny_model, tokenizer, normalised_articles, params):
    import copy

    examples = [e for a in normalised_articles(2) for e in make_examples(a, ["type"], params["tasks"]["prompts"])]
    rows = compare_methods(copy.deepcopy(tiny_model), tiny_model, tokenizer, examples, max_new_tokens=LIMITS,
                           max_length=512, date_string=DATE, batch_size=2)
    assert [row["method"] for row in rows][3] == "+ adapter merged" and rows[-1]["role"] == "project"
    assert "adapter unmerged" in rows[0]["method"]
