"""The inference benchmark measures four methods on the same prompts and accounts for padding and decode slots."""

from pressft import TASKS
from pressft.benchmark import compare_methods
from pressft.tasks import make_examples

DATE = "26 Jul 2024"
LIMITS = {"summarization": 6, "title": 4, "tags": 5, "type": 3}


def test_methods_are_compared_on_the_same_prompts(tiny_model, tokenizer, normalised_articles, params):
    examples = [e for a in normalised_articles(6) for e in make_examples(a, list(TASKS), params["tasks"]["prompts"])]
    rows = compare_methods(tiny_model, tiny_model, tokenizer, examples, max_new_tokens=LIMITS, max_length=512,
                           date_string=DATE, batch_size=4)
    assert [row["method"].split(":")[0] for row in rows] == [
        "reference", "plain batches (arrival order), greedy, unmerged",
        "grouped by task + sorted by length, unmerged", "this project"]
    reference, plain, grouped, ours = rows
    assert reference["speedup"] == 1.0 and reference["padding_share"] == 0.0  # one prompt: nothing to pad
    assert reference["wasted_decode_share"] == 0.0
    # Same model, same greedy decoding: grouping changes only the batches, not what is generated.
    assert grouped["generated_tokens"] == ours["generated_tokens"]
    assert grouped["padding_share"] <= plain["padding_share"]
    for row in rows:
        assert row["seconds"] > 0 and row["prefill_seconds"] >= 0
        assert abs(row["decode_seconds"] - max(row["seconds"] - row["prefill_seconds"], 0)) <= 0.011  # rounding
        assert 0 <= row["padding_share"] < 1 and 0 <= row["wasted_decode_share"] < 1
