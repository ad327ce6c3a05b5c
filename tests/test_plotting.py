"""Figures of the plot stage: the numbers behind them on hand-checked cases, the PNG sizes, and the stage CLI."""

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from ruamel.yaml import YAML

from pressft.evaluation.metrics import INVALID_LABEL
from pressft.errors import UserError
from pressft.model.curves import SERIES, read_curves, series_file
from pressft.tasks import ARTICLE_TYPES
from pressft.presentation import study_report
from pressft.presentation.plotting import (
    comparison_figure,
    confusion_axes,
    confusion_figure,
    confusion_grid,
    confusion_plot_data,
    corpus_note,
    label,
    lengths_figure,
    loss_figure,
    moving_average,
    output_lengths,
    smoothing_window,
    tag_f1_table,
    tags_figure,
    task_models,
)

REPO = Path(__file__).resolve().parents[1]
FIGURES = ("comparison.png", "lengths.png", "confusion.png", "tags.png", "loss.png")
CONFUSION_DATA = ("confusion/type-base.json", "confusion/type-finetuned.json")

# ------------------------------------------------------------------ invented data: three test articles


def _rec(i: str, task: str, reference, prediction: str) -> dict:
    return {"id": i, "task": task, "reference": reference, "prediction": prediction}


REFERENCE = {
    "summarization": {"a1": "one two three", "a2": "one two", "a3": "one two three four"},
    "title": {"a1": "a title", "a2": "another short title", "a3": "t"},
    # 'bmw' in a3 is the same tag as 'BMW' (tags are case-folded); a1's spelling is the one shown.
    "tags": {"a1": ["BMW", "Design"], "a2": ["BMW", "MINI"], "a3": ["bmw", "Design", "Munich"]},
    "type": {"a1": "Press Release", "a2": "Press Release", "a3": "Speech"},
}


def _records(answers: dict[str, dict[str, str]]) -> list[dict]:
    # Written in reverse id order: the helpers must sort by id, not trust file order.
    return [_rec(i, task, REFERENCE[task][i], answer) for task, by_id in answers.items()
            for i, answer in sorted(by_id.items(), reverse=True)]


PREDICTIONS = {
    "base": _records({
        "summarization": {"a1": "w " * 10, "a2": "w " * 12, "a3": "w " * 11},
        "title": {"a1": "w " * 6, "a2": "w " * 7, "a3": "w " * 8},
        "tags": {"a1": "", "a2": "", "a3": ""},
        "type": {"a1": "no idea", "a2": "no idea", "a3": "no idea"},
    }),
    "finetuned": _records({
        "summarization": {"a1": "one two three", "a2": "one", "a3": "one two three four five"},
        "title": {"a1": "a title", "a2": "short title", "a3": "t t"},
        # BMW right in 2 of its 3 articles; Design right in 1 of 2; MINI never predicted; Sales wrong in a3.
        "tags": {"a1": "BMW, Design", "a2": "BMW", "a3": "Munich, Sales"},
        "type": {"a1": "Press Release", "a2": "Speech", "a3": "Speech"},
    }),
    "baseline-lead": _records({
        "summarization": {"a1": "w w w w", "a2": "w w w w", "a3": "w w w w"},
        "title": {"a1": "w w", "a2": "w w w", "a3": "w"},
    }),
    "baseline-tfidf": _records({
        "tags": {"a1": "BMW, Design, Sales", "a2": "BMW, MINI", "a3": "BMW, Design, Munich"},
        "type": {"a1": "Press Release", "a2": "Press Release", "a3": "Speech"},
    }),
}


def _text(values: dict) -> dict:
    return {"rouge1": values["r1"], "rouge2": values["r1"] / 3, "rougeL": values["r1"] * 0.8,
            "bertscore_f1": values["r1"] + 0.2, "avg_words": 3.0, "ref_avg_words": 3.0, "n": 3, **values["ci"]}


METRICS = {
    "base": {
        "summarization": _text({"r1": 0.1, "ci": {"rougeL_ci_low": 0.05, "rougeL_ci_high": 0.1}}),
        "title": _text({"r1": 0.05, "ci": {"rouge1_ci_low": 0.0, "rouge1_ci_high": 0.1}}),
        "tags": {"exact_match": 0.0, "jaccard": 0.0, "precision": 0.0, "recall": 0.0, "f1": 0.0, "n": 3,
                 "f1_ci_low": 0.0, "f1_ci_high": 0.0},
        "type": {"accuracy": 0.0, "macro_f1": 0.0, "majority_macro_f1": 0.4, "n": 3, "macro_f1_ci_low": 0.0,
                 "macro_f1_ci_high": 0.0,
                 "confusion": {"Press Release": {INVALID_LABEL: 2}, "Speech": {INVALID_LABEL: 1}}},
    },
    "finetuned": {
        "summarization": _text({"r1": 0.5, "ci": {"rougeL_ci_low": 0.3, "rougeL_ci_high": 0.5}}),
        "title": _text({"r1": 0.45, "ci": {"rouge1_ci_low": 0.3, "rouge1_ci_high": 0.6}}),
        "tags": {"exact_match": 0.33, "jaccard": 0.5, "precision": 0.6, "recall": 0.55, "f1": 0.57, "n": 3,
                 "f1_ci_low": 0.4, "f1_ci_high": 0.8},
        "type": {"accuracy": 0.67, "macro_f1": 0.67, "majority_macro_f1": 0.4, "n": 3, "macro_f1_ci_low": 0.3,
                 "macro_f1_ci_high": 1.0,
                 "confusion": {"Press Release": {"Press Release": 1, "Speech": 1}, "Speech": {"Speech": 1,
                                                                                          "Press Release": 0}}},
    },
    "baseline-lead": {
        "summarization": _text({"r1": 0.6, "ci": {"rougeL_ci_low": 0.4, "rougeL_ci_high": 0.6}}),
        "title": _text({"r1": 0.7, "ci": {"rouge1_ci_low": 0.6, "rouge1_ci_high": 0.8}}),
    },
    "baseline-tfidf": {
        "tags": {"exact_match": 0.33, "jaccard": 0.8, "precision": 0.8, "recall": 1.0, "f1": 0.88, "n": 3,
                 "f1_ci_low": 0.8, "f1_ci_high": 1.0},
        "type": {"accuracy": 1.0, "macro_f1": 1.0, "majority_macro_f1": 0.4, "n": 3, "macro_f1_ci_low": 1.0,
                 "macro_f1_ci_high": 1.0,
                 "confusion": {"Press Release": {"Press Release": 2, "Speech": 0},
                               "Speech": {"Press Release": 0, "Speech": 1}}},
    },
}
COMPARISON = {
    "resamples": 10, "seed": 0, "confidence": 0.95,
    "summarization": {"metric": "rougeL", "best_baseline": "baseline-lead"},
    "title": {"metric": "rouge1", "best_baseline": "baseline-lead"},
    "tags": {"metric": "f1", "best_baseline": "baseline-tfidf"},
    "type": {"metric": "macro_f1", "best_baseline": "baseline-tfidf"},
}
TRAIN_ROWS = [{"step": float(s), "loss": 3.0 / s} for s in range(1, 61)]
EVAL_ROWS = [{"step": 20.0, "eval_loss": 0.9}, {"step": 40.0, "eval_loss": 0.7}, {"step": 60.0, "eval_loss": 0.75}]


def assert_png(path: Path, min_height: int = 300, max_height: int = 1200) -> None:
    """README-sized: 1200-1400 px wide, a sane height."""
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    width, height = Image.open(path).size
    assert 1200 <= width <= 1400, width
    assert min_height <= height <= max_height, height


# ------------------------------------------------------------------ what is drawn


def test_task_models_are_base_finetuned_and_the_named_best_baseline():
    assert task_models("tags", PREDICTIONS, COMPARISON) == ["base", "finetuned", "baseline-tfidf"]
    # baseline-lead exists but is not the best for type; a missing model is skipped, not an error.
    assert task_models("type", ["finetuned", "baseline-lead"], COMPARISON) == ["finetuned"]
    assert task_models("title", ["base"], {}) == ["base"]
    assert [label(m) for m in ("base", "finetuned", "baseline-tfidf")] == ["Base", "Fine-tuned",
                                                                         "Best baseline: tfidf"]


def test_corpus_note_says_when_the_corpus_is_synthetic():
    assert corpus_note({"synthetic": True}, {"train_articles": 300}).startswith("SYNTHETIC corpus")
    assert "300 articles" in corpus_note({"synthetic": True}, {"train_articles": 300})
    assert "SYNTHETIC" not in corpus_note({"synthetic": False}) and "real" in corpus_note({"synthetic": False})


def test_output_lengths_are_words_per_output_sorted_by_article_with_references_once():
    lengths = output_lengths(PREDICTIONS, "summarization")
    assert lengths == {"reference": [3, 2, 4], "base": [10, 12, 11], "finetuned": [3, 1, 5],
                       "baseline-lead": [4, 4, 4]}  # baseline-tfidf has no summaries: left out
    assert output_lengths(PREDICTIONS, "title")["reference"] == [2, 3, 1]
    assert output_lengths({"base": PREDICTIONS["base"]}, "nothing") == {}


def test_tag_f1_table_on_hand_checked_counts():
    table = tag_f1_table(PREDICTIONS, "tags", top=3)
    # bmw in 3 articles, design in 2; mini and munich tie at 1 and go alphabetically.
    assert table["tags"] == [("BMW", 3), ("Design", 2), ("MINI", 1)]
    assert table["articles"] == 3
    # BMW: right in 2 of its 3 articles, never predicted wrongly -> 2*2 / (2 predicted + 3 expected) = 0.8.
    # Design: right once, expected twice -> 2*1 / (1 + 2). MINI: never predicted -> 0.
    assert table["f1"]["finetuned"] == pytest.approx([0.8, 2 / 3, 0.0])
    assert table["f1"]["base"] == [0.0, 0.0, 0.0]
    assert table["f1"]["baseline-tfidf"] == pytest.approx([1.0, 1.0, 1.0])
    assert "baseline-lead" not in table["f1"]  # no tags task
    assert [tag for tag, _ in tag_f1_table(PREDICTIONS, "tags", top=12)["tags"]] == ["BMW", "Design", "MINI", "Munich"]


def test_tag_f1_counts_a_wrong_prediction_against_the_tag():
    records = {"m": [_rec("x", "tags", ["BMW"], "BMW"), _rec("y", "tags", ["MINI"], "BMW, MINI")]}
    table = tag_f1_table(records, "tags")
    # BMW: 1 hit, predicted twice, expected once -> 2/3. MINI: 1 hit of 1 and 1 -> 1.
    assert table["tags"] == [("BMW", 1), ("MINI", 1)]
    assert table["f1"]["m"] == pytest.approx([2 / 3, 1.0])


def test_confusion_axes_share_columns_and_put_not_a_label_last():
    confusions = [METRICS[m]["type"]["confusion"] for m in ("base", "finetuned", "baseline-tfidf")]
    rows, columns = confusion_axes(confusions, ARTICLE_TYPES)
    assert rows == ["Press Release", "Speech"]
    assert columns == ["Press Release", "Speech", INVALID_LABEL]
    # The base never answered a label: its label columns are 0, not missing.
    assert confusion_grid(confusions[0], rows, columns).tolist() == [[0, 0, 2], [0, 0, 1]]
    assert np.array_equal(confusion_grid(confusions[1], rows, columns), [[1, 1, 0], [0, 1, 0]])
    assert confusion_axes([METRICS["baseline-tfidf"]["type"]["confusion"]], ARTICLE_TYPES)[1] == ["Press Release", "Speech"]


# ------------------------------------------------------------------ the PNGs


def test_comparison_figure(tmp_path):
    comparison_figure(METRICS, COMPARISON, tmp_path / "c.png", "SYNTHETIC corpus")
    assert_png(tmp_path / "c.png", 900, 1100)


def test_comparison_figure_with_tasks_missing_still_draws(tmp_path):
    only_text = {m: {k: v for k, v in r.items() if k in ("summarization", "title")} for m, r in METRICS.items()}
    comparison_figure(only_text, {"resamples": 10, "seed": 0, "confidence": 0.95}, tmp_path / "c.png")
    assert_png(tmp_path / "c.png", 900, 1100)


def test_lengths_figure(tmp_path):
    lengths_figure(PREDICTIONS, COMPARISON, tmp_path / "l.png", "SYNTHETIC corpus")
    assert_png(tmp_path / "l.png", 500, 800)


def test_confusion_plot_data_is_one_record_per_answer_of_the_language_models():
    data = confusion_plot_data(METRICS)
    assert sorted(data) == sorted(CONFUSION_DATA)  # the baselines' matrices stay in confusion.png
    assert data["confusion/type-finetuned.json"] == [
        {"actual": "Press Release", "predicted": "Press Release"}, {"actual": "Press Release", "predicted": "Speech"},
        {"actual": "Speech", "predicted": "Speech"}]
    assert data["confusion/type-base.json"] == [{"actual": "Press Release", "predicted": INVALID_LABEL}] * 2 + [
        {"actual": "Speech", "predicted": INVALID_LABEL}]
    assert confusion_plot_data({"finetuned": {"summarization": {}}}) == {}


def test_confusion_figure(tmp_path):
    confusion_figure(METRICS, COMPARISON, tmp_path / "m.png", "SYNTHETIC corpus")
    assert_png(tmp_path / "m.png", 500, 800)
    confusion_figure({"base": {"summarization": {}}}, {}, tmp_path / "none.png")
    assert_png(tmp_path / "none.png", 500, 800)


def test_tags_figure(tmp_path):
    tags_figure(PREDICTIONS, COMPARISON, tmp_path / "t.png", "SYNTHETIC corpus")
    assert_png(tmp_path / "t.png", 300, 1000)


def test_a_text_task_and_a_set_task_added_to_the_registry_get_their_panels(monkeypatch, tmp_path):
    """The lengths figure has a panel per text task and the tags figure one per set task, as the registry says."""
    from dataclasses import replace

    from pressft import tasks
    from pressft.presentation import plotting

    monkeypatch.setitem(tasks.REGISTRY, "lede", replace(tasks.REGISTRY["summarization"], name="lede",
                                                        nouns=("lede", "ledes")))
    monkeypatch.setitem(tasks.REGISTRY, "topics", replace(tasks.REGISTRY["tags"], name="topics", title="Topics",
                                                          nouns=("topic", "topics")))
    renamed = {"summarization": "lede", "tags": "topics"}
    records = {model: recs + [{**r, "task": renamed[r["task"]]} for r in recs if r["task"] in renamed]
               for model, recs in PREDICTIONS.items()}
    comparison = COMPARISON | {"lede": COMPARISON["summarization"], "topics": COMPARISON["tags"]}
    drawn = {}
    monkeypatch.setattr(plotting, "_save", lambda fig, out: drawn.setdefault(out.name, fig))
    lengths_figure(records, comparison, tmp_path / "l.png")
    lengths = drawn["l.png"]
    assert [ax.get_title() for ax in lengths.axes] == ["Summaries (3 test articles)", "Titles (3 test articles)",
                                                       "Ledes (3 test articles)"]
    assert lengths._suptitle.get_text().endswith("reference summaries and titles and ledes")
    tags_figure(records, comparison, tmp_path / "t.png")
    panels = drawn["t.png"].axes
    assert [ax.get_xlabel().split(" over")[0] for ax in panels] == ["F1 for this tag", "F1 for this topic"]
    assert [len(ax.get_yticks()) for ax in panels] == [4, 4]  # BMW, Design, MINI, Munich in each


def test_loss_figure(tmp_path):
    loss_figure(TRAIN_ROWS, EVAL_ROWS, 40, tmp_path / "loss.png", "SYNTHETIC corpus")
    assert_png(tmp_path / "loss.png", 500, 800)
    loss_figure(TRAIN_ROWS[:3], [], None, tmp_path / "short.png")  # no eval yet, no best step
    assert_png(tmp_path / "short.png", 500, 800)


def test_moving_average_is_centred_and_keeps_every_step():
    # Hand-checked: window 3 averages each point with its neighbours; the ends average the two that exist.
    assert moving_average([1, 2, 3, 4, 5], 3).tolist() == [1.5, 2.0, 3.0, 4.0, 4.5]
    assert moving_average([4, 0, 2], 1).tolist() == [4.0, 0.0, 2.0]


def test_smoothing_window_is_a_25th_of_the_steps_within_its_bounds():
    assert smoothing_window(10, cap=50) == 1  # too few steps to average: the raw curve alone
    assert smoothing_window(232, cap=50) == 9  # the committed real preset's steps
    assert smoothing_window(5000, cap=50) == 50
    assert smoothing_window(5000, cap=20) == 20


def test_study_loss_figure_runs_of_every_size_one_eval_point_included(tmp_path):
    def run(steps: int, evals: list[int]) -> dict:
        return {"loss_train": [{"step": step, "loss": 2.0 / step} for step in range(1, steps + 1)],
                "loss_eval": [{"step": step, "eval_loss": 1.5 + 1 / step} for step in evals]}

    results = {(30, 3407): run(8, [8]), (60, 3407): run(16, [8, 16]), (60, 1): run(16, [8, 16])}
    study_report.loss_figure(results, tmp_path / "loss.png", synthetic=False)
    assert_png(tmp_path / "loss.png", 400, 800)


# ------------------------------------------------------------------ the stage


def _write_inputs(root: Path, comparison: dict = COMPARISON) -> list[str]:
    (root / "metrics").mkdir()
    (root / "preds").mkdir()
    for model, result in METRICS.items():
        (root / "metrics" / f"{model}.json").write_text(json.dumps(result))
    for model, records in PREDICTIONS.items():
        (root / "preds" / f"{model}.jsonl").write_text("".join(json.dumps(r) + "\n" for r in records))
    (root / "metrics" / "comparison.json").write_text(json.dumps(comparison))
    (root / "metrics" / "train.json").write_text(json.dumps({"train_articles": 12, "best_step": 40}))
    (root / "metrics" / "data.json").write_text(json.dumps({"synthetic": True}))
    for series, key in SERIES.items():  # dvclive's tables, as the train stage logs them
        path = root / "metrics" / "curves" / series_file(series)
        path.parent.mkdir(parents=True, exist_ok=True)
        rows = EVAL_ROWS if series.startswith("eval/") else TRAIN_ROWS
        path.write_text(f"step\t{series.split('/')[1]}\n" + "".join(f"{r['step']:g}\t{r.get(key, 0.001)}\n"
                                                                     for r in rows))
    return [sys.executable, str(REPO / "stages" / "plot.py"),
            "--metrics", *[f"metrics/{m}.json" for m in METRICS], "--comparison", "metrics/comparison.json",
            "--predictions", *[f"preds/{m}.jsonl" for m in PREDICTIONS], "--train", "metrics/train.json",
            "--curves", "metrics/curves", "--data", "metrics/data.json", "--out", "plots"]


def test_stage_writes_the_figures_and_the_confusion_data(tmp_path):
    done = subprocess.run(_write_inputs(tmp_path), cwd=tmp_path, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == f"plot: wrote {', '.join(FIGURES + CONFUSION_DATA)} to plots"
    written = sorted(str(p.relative_to(tmp_path / "plots")) for p in (tmp_path / "plots").rglob("*") if p.is_file())
    assert written == sorted(FIGURES + CONFUSION_DATA)
    declared = {next(iter(plot)) if isinstance(plot, dict) else plot
                for plot in YAML(typ="safe").load((REPO / "dvc.yaml").read_text())["plots"]}
    assert {f"plots/{name}" for name in written} <= declared  # each one a DVC plot (`dvc plots show` / `diff`)
    for name in FIGURES:
        assert_png(tmp_path / "plots" / name, 300, 1100)


def test_missing_curves_name_the_stage_that_writes_them(tmp_path):
    with pytest.raises(UserError, match=r"^\S+/curves/plots/metrics/train/loss.tsv does not exist; run the train stage "
                                        r"first \(dvc repro train\)$"):
        read_curves(tmp_path / "curves")


def test_stage_names_a_best_baseline_that_was_not_passed(tmp_path):
    comparison = {**COMPARISON, "tags": {"metric": "f1", "best_baseline": "baseline-nearest"}}
    done = subprocess.run(_write_inputs(tmp_path, comparison), cwd=tmp_path, capture_output=True, text=True)
    assert done.returncode == 2
    assert done.stderr.strip() == ("error: comparison names baseline-nearest as the best tags baseline: "
                                   "pass metrics/baseline-nearest.json to --metrics")
