"""Hand-checked values for the scoring library (BERTScore runs on the bundled MiniLM, offline)."""

import math
import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")  # the bundled model is local; never touch the hub

import numpy as np
import pytest
from sklearn.metrics import f1_score

from pressft.evaluation.metrics import (
    BUNDLED_BERTSCORE,
    add_intervals,
    bootstrap_ci,
    compare_models,
    macro_f1_rows,
    paired_difference,
    majority_macro_f1,
    normalize_label,
    parse_tags,
    resolve_bertscore_model,
    score_predictions,
    tag_scores,
    tag_sources,
    text_scores,
    type_scores,
)

from pressft.tasks import drop_cut_tag, get_task

BS = dict(bertscore_model=BUNDLED_BERTSCORE, bertscore_layers=6)


# ------------------------------------------------------------------ text


def test_resolve_bertscore_model():
    path = resolve_bertscore_model(BUNDLED_BERTSCORE)
    assert isinstance(path, str) and os.path.isfile(os.path.join(path, "config.json"))
    assert resolve_bertscore_model("roberta-large") == "roberta-large"
    assert resolve_bertscore_model("/models/x") == "/models/x"


def test_rouge_by_hand():
    s = text_scores(["the cat sat"], ["the cat sat on the mat"], **BS)
    # unigrams: 3 of 3 predicted match (P=1), 3 of 6 reference (R=0.5) -> F1 = 2/3
    assert s["rouge1"] == pytest.approx(0.6667)
    # bigrams: "the cat", "cat sat" both in the 5 reference bigrams -> P=1, R=0.4, F1=4/7
    assert s["rouge2"] == pytest.approx(0.5714)
    assert s["rougeL"] == pytest.approx(0.6667)  # LCS = the whole prediction
    assert s["n"] == 1


def test_rouge_stems():
    assert text_scores(["cars"], ["car"], **BS)["rouge1"] == 1.0


def test_lengths_by_hand():
    s = text_scores(["a b c d", "a b"], ["a b", "a b c d"], **BS)
    assert s["avg_words"] == 3.0 and s["ref_avg_words"] == 3.0
    assert s["length_ratio"] == pytest.approx((4 / 2 + 2 / 4) / 2)  # 1.25, mean of ratios, not ratio of means


def test_bertscore_identical_vs_unrelated():
    same = text_scores(["BMW presents the new iX3."], ["BMW presents the new iX3."], **BS)
    other = text_scores(["Quarterly dividends were approved."], ["A dog chases a red ball in the park."], **BS)
    assert same["bertscore_f1"] > 0.99
    assert other["bertscore_f1"] < same["bertscore_f1"] - 0.3


def test_blank_prediction_scores_zero_without_crashing():
    # bert_score itself crashes on "" under transformers 5; we score it 0 as bert_score would.
    s = text_scores(["", "BMW iX3"], ["BMW iX3", "BMW iX3"], **BS)
    assert s["bertscore_f1"] == pytest.approx(0.5, abs=1e-3)
    assert s["rouge1"] == 0.5 and s["length_ratio"] == pytest.approx(0.5)


def test_length_mismatch_raises():
    with pytest.raises(ValueError):
        text_scores(["a"], [], **BS)


# ------------------------------------------------------------------ tags


@pytest.mark.parametrize(
    "text, expected",
    [
        ("BMW, iX3 ,  electric mobility", ["BMW", "iX3", "electric mobility"]),
        ("- BMW\n* iX3\n\n-  Neue Klasse", ["BMW", "iX3", "Neue Klasse"]),
        ("BMW; bmw ;iX3, BMW,", ["BMW", "iX3"]),  # case-insensitive dedup keeps the first spelling
        ("e-mobility, -", ["e-mobility"]),  # only *leading* dashes are bullets
        ("**BMW M**, MINI., \"iX3\"", ["BMW M", "MINI", "iX3"]),  # markdown, a full stop and quotes go
        ("BMW i (electric), [BMW]", ["BMW i (electric)", "[BMW]"]),  # brackets stay
        ("", []),
        (" , ;\n", []),
    ],
)
def test_parse_tags(text, expected):
    assert parse_tags(text) == expected



@pytest.mark.parametrize(
    "text, expected",
    [
        ("BMW M, MINI, MINI John", "BMW M, MINI"),  # the limit cut "MINI John Cooper Works" short
        ("- BMW M\n- MINI\n- Joh", "- BMW M\n- MINI"),
        ("Events, Events, Events,", "Events, Events, Events,"),  # a separator closed the last tag
        ("BMW M; MINI;\n- ", "BMW M; MINI;\n- "),  # only a bullet began after it
        ("A sentence instead of a list that ran on", ""),  # no tag of it is complete
    ],
)
def test_a_cut_tag_list_drops_its_last_tag(text, expected):
    assert drop_cut_tag(text) == expected
    tags = get_task("tags")
    assert tags.complete(text, ended=False) == expected
    assert tags.complete(text, ended=True) == text  # an answer that ended is whole
    assert get_task("summarization").complete(text, ended=False) == text  # a cut text is still scored


def test_tag_scores_by_hand():
    preds = ["BMW, iX3", "bmw, Electric, Munich", "BMW"]
    refs = [["BMW", "iX3"], ["BMW", "electric", "Design", "Award"], ["MINI"]]
    s = tag_scores(preds, refs)
    # sample 1: exact            -> EM 1, J 1,       P 1,   R 1,   F1 1
    # sample 2: 2 hits of 3 / 4  -> EM 0, J 2/5,     P 2/3, R 1/2, F1 4/7
    # sample 3: no overlap       -> EM 0, J 0,       P 0,   R 0,   F1 0
    assert s == {
        "exact_match": round(1 / 3, 4),
        "jaccard": round((1 + 2 / 5) / 3, 4),
        "precision": round((1 + 2 / 3) / 3, 4),
        "recall": round((1 + 1 / 2) / 3, 4),
        "f1": round((1 + 4 / 7) / 3, 4),
        # Pooled: 4 hits of 6 predicted and 7 expected tags -> P 4/6, R 4/7, F1 8/13.
        "micro_f1": round(8 / 13, 4),
        # Per reference tag: bmw 2*2/(3+2), ix3 1, electric 1, design 0, award 0, mini 0 -> mean 2.8/6.
        "macro_f1": round(2.8 / 6, 4),
        "well_formed": 1.0,
        "n": 3,
    }


def test_tag_sources_by_hand():
    # answered: {a, b, x} and {c}; reference: {a, c} and {c, d}; offered: {a, x} and {c, d}; learnt: a, c, d
    found = tag_sources(["A, b, x", "c"], [["a", "C"], ["c", "D"]], [{"a", "X"}, {"c", "d"}], {"A", "c", "d"})
    # answered tags offered: a, x, c = 3 of 4; learnt: a, c = 2 of 4; reference offered: a, c, d = 3 of 4; learnt 4/4
    assert found == {"answered_offered": 0.75, "answered_learnt": 0.5, "reference_offered": 0.75,
                     "reference_learnt": 1.0}
    assert tag_sources([""], [[]], [set()], {"a"})["answered_offered"] is None  # nothing answered: nothing to count


def test_tag_scores_case_folding():
    assert tag_scores(["bmw GROUP, Ix3"], [["BMW Group", "iX3"]])["exact_match"] == 1.0


def test_tag_empty_conventions():
    both_empty = tag_scores([""], [[]])
    assert all(both_empty[k] == 1.0 for k in ("exact_match", "jaccard", "precision", "recall", "f1"))
    empty_pred = tag_scores(["  "], [["BMW"]])
    assert empty_pred["precision"] == 0.0 and empty_pred["f1"] == 0.0 and empty_pred["jaccard"] == 0.0
    empty_ref = tag_scores(["BMW"], [[]])
    assert empty_ref["precision"] == 0.0 and empty_ref["exact_match"] == 0.0


def test_tag_string_reference_is_parsed():
    assert tag_scores(["BMW, iX3"], ["BMW, iX3"])["exact_match"] == 1.0


# ------------------------------------------------------------------ type


@pytest.mark.parametrize(
    "text, expected",
    [
        ("Press Release", "Press Release"),
        ("press release", "Press Release"),
        ("  Press Release.  ", "Press Release"),
        ("**Speech**", "Speech"),
        ("Speech\nbecause it is a transcript", "Speech"),
        ("Speech because it is a transcript", "Speech"),
        ("fact & figures", "Fact & Figures"),
        ("Press Kit", "Press Kit"),
        ("Press Kitchen", None),
        ("nonsense", None),
        ("", None),
        ("It is a Speech", None),  # label must lead the answer
    ],
)
def test_normalize_label(text, expected):
    assert normalize_label(text) == expected


def test_type_scores_by_hand():
    refs = ["Press Release", "Press Release", "Press Release", "Speech", "Speech", "Press Kit"]
    preds = ["press release", "Speech", "garbage", "Speech.", "Speech", "Press Kit"]
    s = type_scores(preds, refs)
    # correct: PR#1, Speech x2, Kit -> 4/6. "garbage" counts wrong and is not a class of its own.
    # PR:     TP 1, FP 0, FN 2 -> P 1,   R 1/3 -> F1 0.5
    # Speech: TP 2, FP 1, FN 0 -> P 2/3, R 1   -> F1 0.8
    # Kit:    TP 1             ->                 F1 1
    assert s["accuracy"] == round(4 / 6, 4)
    assert s["macro_f1"] == round((0.5 + 0.8 + 1) / 3, 4)  # Fact & Figures absent -> not averaged
    assert s["per_class_accuracy"] == {"Press Release": round(1 / 3, 4), "Speech": 1.0, "Press Kit": 1.0}
    assert s["support"] == {"Press Release": 3, "Speech": 2, "Press Kit": 1}
    assert s["well_formed"] == round(5 / 6, 4)
    assert s["n"] == 6


def test_type_unknown_reference_raises():
    with pytest.raises(ValueError):
        type_scores(["Speech"], ["Interview"])


def test_majority_macro_f1_by_hand():
    refs = ["Press Release"] * 8 + ["Speech"] * 2
    # always PR: P 0.8, R 1 -> F1 2*0.8/1.8 = 0.8889; Speech F1 0 -> macro 0.4444
    assert majority_macro_f1(refs) == 0.4444
    assert majority_macro_f1(["Speech"] * 3) == 1.0


# ------------------------------------------------------------------ all tasks


def test_score_predictions_structure():
    records = [
        {"task": "title", "reference": "BMW unveils iX3", "prediction": "BMW unveils the iX3"},
        {"task": "tags", "reference": ["BMW", "iX3"], "prediction": "BMW, iX3"},
        {"task": "type", "reference": "Speech", "prediction": "Speech"},
        {"task": "type", "reference": "Press Kit", "prediction": "Press Release"},
    ]
    out = score_predictions(records, **BS)
    assert list(out) == ["title", "tags", "type", "bertscore"]  # no summarization records -> no key
    assert set(out["title"]) == {
        "rouge1", "rouge2", "rougeL", "rouge1_precision", "rouge1_recall", "rouge2_precision", "rouge2_recall",
        "rougeL_precision", "rougeL_recall", "bertscore_f1", "bertscore_precision", "bertscore_recall",
        "avg_words", "ref_avg_words", "length_ratio", "length_ratio_std", "length_ratio_p10", "length_ratio_p90",
        "well_formed", "n",
    }
    assert out["tags"]["exact_match"] == 1.0
    assert out["type"]["accuracy"] == 0.5 and out["type"]["majority_macro_f1"] == pytest.approx(0.3333)
    assert out["bertscore"]["model"] == BUNDLED_BERTSCORE and out["bertscore"]["num_layers"] == 6
    # The hash names the configured model, not this machine's site-packages path.
    assert out["bertscore"]["hash"].startswith(f"{BUNDLED_BERTSCORE}_L6_no-idf_version=")


def test_score_predictions_unknown_task():
    with pytest.raises(ValueError, match="unknown task 'translate'"):
        score_predictions([{"task": "translate", "reference": "x", "prediction": "y"}], **BS)


# ------------------------------------------------------------------ added scores


def test_rouge_precision_and_recall_by_hand():
    s = text_scores(["the cat sat"], ["the cat sat on the mat"], **BS)
    assert s["rouge1_precision"] == 1.0 and s["rouge1_recall"] == 0.5
    assert s["rouge2_precision"] == 1.0 and s["rouge2_recall"] == 0.4
    assert 0 < s["bertscore_recall"] <= 1 and 0 < s["bertscore_precision"] <= 1


def test_length_ratio_spread_by_hand():
    s = text_scores(["a b c d", "a b", "a"], ["a b", "a b c d", "a"], **BS)
    # ratios 2, 0.5, 1 -> population std sqrt(((2-7/6)^2 + (0.5-7/6)^2 + (1-7/6)^2) / 3)
    assert s["length_ratio"] == pytest.approx(round(3.5 / 3, 4))
    assert s["length_ratio_std"] == pytest.approx(round((((5 / 6) ** 2 + (4 / 6) ** 2 + (1 / 6) ** 2) / 3) ** 0.5, 4))
    assert s["length_ratio_p10"] == pytest.approx(0.6) and s["length_ratio_p90"] == pytest.approx(1.8)


def test_type_confusion_matrix_and_predicted_distribution():
    s = type_scores(["Press Release", "Speech", "blah", "Press Release"],
                    ["Press Release", "Press Release", "Speech", "Speech"])
    assert s["confusion"] == {
        "Press Release": {"Press Release": 1, "Speech": 1, "(not a label)": 0},
        "Speech": {"Press Release": 1, "Speech": 0, "(not a label)": 1},
    }
    assert s["predicted"] == {"Press Release": 2, "Speech": 1, "(not a label)": 1}


def test_well_formed_per_task():
    records = [
        {"id": "a", "task": "title", "reference": "BMW iX3", "prediction": "BMW iX3 arrives", "hit_limit": False},
        {"id": "b", "task": "title", "reference": "BMW iX3", "prediction": "Line one\nLine two", "hit_limit": False},
        {"id": "a", "task": "summarization", "reference": "x y", "prediction": "x y z", "hit_limit": True},
        {"id": "b", "task": "summarization", "reference": "x y", "prediction": "x y", "hit_limit": False},
        {"id": "a", "task": "tags", "reference": ["BMW"], "prediction": "BMW, Design"},
        {"id": "b", "task": "tags", "reference": ["BMW"], "prediction": "This article is about the new BMW model."},
        {"id": "c", "task": "tags", "reference": ["BMW"], "prediction": "BMW M, BMW M, BM", "hit_limit": True},
    ]
    out = score_predictions(records, **BS)
    assert out["title"]["well_formed"] == 0.5  # two lines are not a title
    assert out["summarization"]["well_formed"] == 0.5  # cut off by the token limit
    assert out["tags"]["well_formed"] == round(1 / 3, 4)  # a sentence is not a tag list, nor a list cut off


def test_perplexity_of_the_answers_given_the_prompt():
    records = [
        {"id": "a", "task": "type", "reference": "Speech", "prediction": "Speech", "answer_nll": 2.0, "answer_tokens": 2},
        {"id": "b", "task": "type", "reference": "Speech", "prediction": "Speech", "answer_nll": 4.0, "answer_tokens": 2},
        {"id": "a", "task": "tags", "reference": ["BMW"], "prediction": "BMW", "answer_nll": 6.0, "answer_tokens": 3},
    ]
    out = score_predictions(records, **BS)
    assert out["type"]["perplexity"] == pytest.approx(round(math.exp(6 / 4), 4))  # pooled over tokens
    assert out["tags"]["perplexity"] == pytest.approx(round(math.exp(2.0), 4))
    assert out["perplexity"] == pytest.approx(round(math.exp(12 / 7), 4))


def test_no_perplexity_for_predictions_without_likelihoods():
    out = score_predictions([{"id": "a", "task": "type", "reference": "Speech", "prediction": "Speech"}], **BS)
    assert "perplexity" not in out and "perplexity" not in out["type"]


# ------------------------------------------------------------------ bootstrap


def _tags(ids_and_f1: dict[str, float]) -> list[dict]:
    """Tag records whose per-sample F1 is 1 or 0 as given."""
    return [{"id": i, "task": "tags", "reference": ["BMW"], "prediction": "BMW" if hit else "MINI"}
            for i, hit in ids_and_f1.items()]


def test_bootstrap_interval_is_seeded_and_brackets_the_value():
    _, stats = score_predictions(_tags({f"a{i:02d}": i % 2 for i in range(40)}), **BS, with_statistics=True)
    low, high = bootstrap_ci(stats["tags"], resamples=500, seed=1, confidence=0.95)
    assert (low, high) == bootstrap_ci(stats["tags"], resamples=500, seed=1, confidence=0.95)
    assert low < stats["tags"].value == 0.5 < high
    assert 0.3 < low and high < 0.7  # 40 coin flips: about +-0.15


def test_the_confidence_is_the_central_share_of_the_resampled_values():
    _, stats = score_predictions(_tags({f"a{i:02d}": i % 2 for i in range(40)}), **BS, with_statistics=True)
    values = stats["tags"](np.random.default_rng(1).integers(0, 40, size=(500, 40)))  # bootstrap_ci's resamples
    for confidence, tail in ((0.95, 2.5), (0.5, 25)):
        expected = tuple(round(float(np.percentile(values, q)), 4) for q in (tail, 100 - tail))
        assert bootstrap_ci(stats["tags"], resamples=500, seed=1, confidence=confidence) == expected


def test_bootstrap_of_a_constant_has_no_width():
    _, stats = score_predictions(_tags({f"a{i}": 1 for i in range(10)}), **BS, with_statistics=True)
    assert bootstrap_ci(stats["tags"], resamples=200, seed=0, confidence=0.95) == (1.0, 1.0)


def test_paired_difference_verdicts():
    ids = [f"a{i:02d}" for i in range(30)]
    _, good = score_predictions(_tags(dict.fromkeys(ids, 1)), **BS, with_statistics=True)
    _, half = score_predictions(_tags({i: n % 2 for n, i in enumerate(ids)}), **BS, with_statistics=True)
    better = paired_difference(good["tags"], half["tags"], resamples=300, seed=0, confidence=0.95)
    assert better["diff"] == 0.5 and better["verdict"] == "better" and better["ci_low"] > 0
    assert paired_difference(half["tags"], good["tags"], 300, 0, confidence=0.95)["verdict"] == "worse"
    assert paired_difference(half["tags"], half["tags"], 300, 0, confidence=0.95) == {
        "diff": 0.0, "ci_low": 0.0, "ci_high": 0.0, "verdict": "tie"}


def test_paired_difference_needs_the_same_examples():
    _, a = score_predictions(_tags({"a": 1, "b": 1}), **BS, with_statistics=True)
    _, b = score_predictions(_tags({"a": 1, "c": 1}), **BS, with_statistics=True)
    with pytest.raises(ValueError, match="different test examples"):
        paired_difference(a["tags"], b["tags"], 10, 0, confidence=0.95)


def test_type_interval_recomputes_macro_f1():
    records = [{"id": f"t{i}", "task": "type", "reference": ref, "prediction": ref}
               for i, ref in enumerate(["Press Release"] * 8 + ["Speech"] * 2)]
    metrics, stats = score_predictions(records, **BS, with_statistics=True)
    add_intervals(metrics, stats, resamples=100, seed=0, confidence=0.95)
    assert metrics["type"]["macro_f1"] == 1.0
    assert (metrics["type"]["macro_f1_ci_low"], metrics["type"]["macro_f1_ci_high"]) == (1.0, 1.0)


def test_vectorised_macro_f1_equals_scikit_learn_on_every_resample():
    """Four labels plus code 4 for an answer that is no label; imbalanced references, so many resamples miss a
    label entirely (its F1 must then not count), and a label absent from the references can still be predicted."""
    rng = np.random.default_rng(0)
    references = rng.choice(4, size=30, p=[0.8, 0.1, 0.07, 0.03])
    predictions = np.where(rng.random(30) < 0.6, references, rng.integers(0, 5, size=30))
    indices = rng.integers(0, 30, size=(500, 30))
    vectorised = macro_f1_rows(references[indices], predictions[indices], 4)
    absent = 0
    for row, index in enumerate(indices):
        refs, preds = references[index], predictions[index]
        present = [label for label in range(4) if label in set(refs)]
        absent += len(present) < 4
        assert vectorised[row] == f1_score(refs, preds, labels=present, average="macro", zero_division=0), row
    assert absent > 100


def test_statistics_recompute_the_scored_headline_on_each_resample():
    labels = ["Press Release"] * 12 + ["Press Kit"] * 3 + ["Speech"] * 2 + ["Fact & Figures"]
    answers = ["Press Release"] * 14 + ["Speech", "no idea", "Press Kit", "Speech"]
    records = [{"id": f"t{i:02d}", "task": "type", "reference": ref, "prediction": pred}
               for i, (ref, pred) in enumerate(zip(labels, answers, strict=True))]
    records += _tags({f"t{i:02d}": i % 3 == 0 for i in range(len(labels))})
    metrics, stats = score_predictions(records, **BS, with_statistics=True)
    assert round(stats["type"].value, 4) == metrics["type"]["macro_f1"]
    index = np.random.default_rng(1).integers(0, len(labels), size=(50, len(labels)))
    for row, value in zip(index, stats["type"](index), strict=True):
        assert round(value, 4) == type_scores([answers[i] for i in row], [labels[i] for i in row])["macro_f1"]
    f1 = np.array([float(i % 3 == 0) for i in range(len(labels))])
    assert list(stats["tags"](index)) == [float(f1[row].mean()) for row in index]  # all resamples at once, same values


def test_compare_models_against_base_and_the_best_baseline():
    ids = [f"a{i:02d}" for i in range(20)]
    scored = {}
    for name, hits in {"finetuned": 18, "base": 2, "baseline-nearest": 17, "baseline-tfidf": 10}.items():
        scored[name] = score_predictions(_tags({i: n < hits for n, i in enumerate(ids)}), **BS, with_statistics=True)
    metrics = {name: pair[0] for name, pair in scored.items()}
    statistics = {name: pair[1] for name, pair in scored.items()}
    out = compare_models(metrics, statistics, resamples=300, seed=0, confidence=0.95)
    tags = out["tags"]
    assert tags["metric"] == "f1" and tags["finetuned"] == 0.9 and tags["base"] == 0.1
    assert tags["finetuned_minus_base"]["verdict"] == "better"
    assert tags["best_baseline"] == "baseline-nearest" and tags["best_baseline_value"] == 0.85
    assert tags["finetuned_minus_best_baseline"]["diff"] == 0.05
    assert tags["finetuned_minus_best_baseline"]["verdict"] == "tie"  # one article apart
    assert set(out) == {"resamples", "seed", "confidence", "tags"}
