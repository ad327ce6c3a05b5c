"""Simple baselines as "models" of the comparison: lead words, majority class, TF-IDF classifiers, nearest neighbour.

A fine-tuned model's score means little on its own: on the reference study's data the first 45 words
of an article score about as well as its fine-tuned summaries, the tags of the most similar training
article about as well as its generated tags, and always answering the majority type beats it on
accuracy. Each baseline here is trained on the same training articles as the LLM (pool examples with
rank < train.size), tunes its one free setting on the validation examples, and writes prediction
records in the LLM's format ({id, task, reference, prediction}) so the scorer scores them unchanged.
"""

from __future__ import annotations

import re
import warnings
from collections import Counter
from statistics import fmean
from typing import Any

import numpy as np
from rouge_score import rouge_scorer
from sklearn.dummy import DummyClassifier
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.multiclass import OneVsRestClassifier
from sklearn.neighbors import NearestNeighbors
from sklearn.preprocessing import MultiLabelBinarizer

from pressft.errors import UserError
from pressft.evaluation.metrics import tag_scores, type_scores
from pressft.tasks import REGISTRY
from pressft.config import check_train_size

Examples = list[dict[str, Any]]

SUMMARY_K = tuple(range(10, 81, 5))
TITLE_K = tuple(range(4, 21))
TAG_THRESHOLDS = tuple(round(0.05 * step, 2) for step in range(1, 11))
SEED = 0
# Sentence end: . ! or ? (and any closing quote or bracket) before whitespace. Abbreviations
# ("Dr. Smith", "approx. 40") end a "sentence" too: good enough for a baseline, and no tokenizer data to fetch.
_SENTENCE_END = re.compile(r"[.!?][\"'”’)\]]*(?=\s)")


def covers() -> dict[str, tuple[str, ...]]:
    """{baseline: the tasks it answers}, from the tasks' baseline families; a baseline has records only for the tasks
    that are in the test examples."""
    names = dict.fromkeys(name for task in REGISTRY.values() for name in task.baselines)
    return {name: tuple(task.name for task in REGISTRY.values() if name in task.baselines) for name in names}


def training_examples(pool: Examples, size: int | None) -> Examples:
    """The examples of the first `size` pool articles: the LLM's training articles, without its type oversampling."""
    size = check_train_size(size, len({example["id"] for example in pool}))
    return [example for example in pool if example["rank"] < size]


def lead_words(text: str, k: int) -> str:
    """The first k whitespace-separated words, joined by single spaces (paragraph breaks become spaces)."""
    return " ".join(text.split()[:k])


def first_sentence(text: str) -> str:
    """The first sentence of the first non-blank paragraph; the whole paragraph when it has no sentence end."""
    paragraph = next((part for part in re.split(r"\n\s*\n", text) if part.strip()), "").strip()
    end = _SENTENCE_END.search(paragraph)
    return " ".join((paragraph[: end.end()] if end else paragraph).split())


def _of(examples: Examples, task: str) -> Examples:
    return [example for example in examples if example["task"] == task]


def _record(example: dict[str, Any], prediction: str) -> dict[str, Any]:
    return {"id": example["id"], "task": example["task"], "reference": example["reference"], "prediction": prediction}


def _mean(values) -> float:
    values = list(values)
    return fmean(values) if values else 0.0


def mean_rouge(predictions: list[str], references: list[str], rouge_type: str) -> float:
    """Mean ROUGE F1 with Porter stemming, as the scorer computes it (unrounded, so close choices stay apart)."""
    scorer = rouge_scorer.RougeScorer([rouge_type], use_stemmer=True)
    return _mean(scorer.score(ref, pred)[rouge_type].fmeasure for pred, ref in zip(predictions, references))


def choose_lead_k(inputs: list[str], references: list[str], grid: tuple[int, ...],
                  rouge_type: str) -> tuple[int, float]:
    """The k of `grid` whose lead-k words score the highest mean ROUGE F1; on a tie the smallest k."""
    scores = [(mean_rouge([lead_words(text, k) for text in inputs], references, rouge_type), k) for k in grid]
    best = max(scores, key=lambda pair: pair[0])  # max keeps the first (smallest k) of equal scores
    return best[1], best[0]


def title_rule(inputs: list[str], references: list[str]) -> dict[str, Any]:
    """First sentence or lead-k words (k in TITLE_K), whichever scores the higher mean ROUGE-1 F1 (tie: sentence)."""
    sentence = mean_rouge([first_sentence(text) for text in inputs], references, "rouge1")
    k, lead = choose_lead_k(inputs, references, TITLE_K, "rouge1")
    if sentence >= lead:
        return {"rule": "first_sentence", "val_rouge1": round(sentence, 4)}
    return {"rule": "lead", "k": k, "val_rouge1": round(lead, 4)}


def apply_title_rule(text: str, rule: dict[str, Any]) -> str:
    return first_sentence(text) if rule["rule"] == "first_sentence" else lead_words(text, rule["k"])


def fit_vectorizer(texts: list[str]) -> TfidfVectorizer:
    # Sublinear tf: a word repeated throughout a long press kit should not outweigh the topic words.
    return TfidfVectorizer(sublinear_tf=True, ngram_range=(1, 2), min_df=1).fit(texts)


def fit_type_classifier(features, labels: list[str]):
    """Balanced logistic regression: types are imbalanced and the headline metric is macro-F1.

    With a single type in the training articles there is nothing to separate (LogisticRegression
    refuses one class), so the classifier answers that type.
    """
    if len(set(labels)) < 2:
        return DummyClassifier(strategy="most_frequent").fit(features, labels)
    return LogisticRegression(class_weight="balanced", max_iter=1000, random_state=SEED).fit(features, labels)


def majority_label(labels: list[str]) -> str:
    """The most frequent training label (ties: the alphabetically first, as DummyClassifier orders classes)."""
    dummy = DummyClassifier(strategy="most_frequent").fit(np.zeros((len(labels), 1)), labels)
    return str(dummy.predict(np.zeros((1, 1)))[0])


def tag_spellings(tag_lists: list[list[str]]) -> dict[str, str]:
    """Case-folded tag -> its most frequent training spelling (ties: the first seen), for readable output.

    Tags are scored case-folded, so "Electric mobility" and "Electric Mobility" are one label.
    """
    counts: dict[str, Counter] = {}
    for tags in tag_lists:
        for tag in tags:
            counts.setdefault(tag.strip().casefold(), Counter())[tag.strip()] += 1
    return {folded: spellings.most_common(1)[0][0] for folded, spellings in counts.items()}


class TagClassifier:
    """One-vs-rest logistic regression over the case-folded training tags.

    All training tags are kept, even those seen once: dropping them saves little here (a few hundred
    labels at most) and could empty the label space of a small training set; a rare tag's classifier
    rarely reaches the threshold anyway.
    """

    def __init__(self, features, tag_lists: list[list[str]]):
        self.spelling = tag_spellings(tag_lists)
        self.binarizer = MultiLabelBinarizer()
        targets = self.binarizer.fit_transform([{tag.strip().casefold() for tag in tags} for tags in tag_lists])
        if not len(self.binarizer.classes_):
            raise UserError("the training articles carry no tags: the tag baselines have nothing to learn")
        with warnings.catch_warnings():
            # A tag on every training article gets a constant predictor; sklearn warns, which is expected.
            warnings.filterwarnings("ignore", message="Label .* is present in all training examples")
            classifier = LogisticRegression(max_iter=1000, random_state=SEED)
            self.model = OneVsRestClassifier(classifier).fit(features, targets)

    def probabilities(self, features) -> np.ndarray:
        """(articles, tags) probabilities, in the order of binarizer.classes_."""
        probabilities = self.model.predict_proba(features)
        # With a single tag, one-vs-rest answers like a binary classifier: columns (not the tag, the tag).
        return probabilities[:, -1:] if len(self.binarizer.classes_) == 1 else probabilities

    def tags(self, probabilities: np.ndarray, threshold: float) -> list[str]:
        """Tags whose probability reaches the threshold, most probable first; at least the most probable one."""
        order = np.argsort(-probabilities, kind="stable")
        chosen = [index for index in order if probabilities[index] >= threshold] or [order[0]]
        return [self.spelling[self.binarizer.classes_[index]] for index in chosen]


def choose_tag_threshold(classifier: TagClassifier, probabilities: np.ndarray,
                         references: list[list[str]]) -> tuple[float, float]:
    """The threshold of TAG_THRESHOLDS with the highest mean per-sample tag F1 (the scorer's); tie: the lowest."""
    scores = []
    for threshold in TAG_THRESHOLDS:
        predictions = [", ".join(classifier.tags(row, threshold)) for row in probabilities]
        scores.append((tag_scores(predictions, references)["f1"], threshold))
    best = max(scores, key=lambda pair: pair[0])
    return best[1], best[0]


def nearest_tags(train_features, train_tags: list[list[str]], features) -> list[str]:
    """For each row of `features`, the tags of the most similar training article (TF-IDF cosine), joined."""
    neighbours = NearestNeighbors(n_neighbors=1, metric="cosine", algorithm="brute").fit(train_features)
    index = neighbours.kneighbors(features, return_distance=False)[:, 0]
    return [", ".join(train_tags[i]) for i in index]


def _lead_baseline(val: Examples, test: Examples, tasks: set[str]) -> tuple[Examples, dict[str, Any]]:
    records, choices = [], {}
    if "summarization" in tasks:
        val_summaries = _of(val, "summarization")
        k, score = choose_lead_k([e["input"] for e in val_summaries], [e["reference"] for e in val_summaries],
                                 SUMMARY_K, "rougeL")
        choices["summarization"] = {"lead_k": k, "val_rougeL": round(score, 4)}
        records += [_record(e, lead_words(e["input"], k)) for e in _of(test, "summarization")]
    if "title" in tasks:
        val_titles = _of(val, "title")
        rule = title_rule([e["input"] for e in val_titles], [e["reference"] for e in val_titles])
        choices["title"] = rule
        records += [_record(e, apply_title_rule(e["input"], rule)) for e in _of(test, "title")]
    return records, choices


def _type_baselines(vectorizer: TfidfVectorizer, train: Examples, val: Examples,
                    test: Examples) -> tuple[Examples, Examples, dict[str, Any]]:
    """Majority records, TF-IDF classifier records, and the choices for the type task."""
    train, val, test = _of(train, "type"), _of(val, "type"), _of(test, "type")
    labels = [e["answer"] for e in train]
    majority = majority_label(labels)
    classifier = fit_type_classifier(vectorizer.transform([e["input"] for e in train]), labels)
    val_predicted = [str(label) for label in classifier.predict(vectorizer.transform([e["input"] for e in val]))]
    choices = {
        "majority": majority,
        "tfidf_val_macro_f1": type_scores(val_predicted, [e["reference"] for e in val])["macro_f1"],
    }
    predicted = classifier.predict(vectorizer.transform([e["input"] for e in test]))
    return ([_record(e, majority) for e in test],
            [_record(e, str(label)) for e, label in zip(test, predicted)],
            choices)


def _tag_baselines(vectorizer: TfidfVectorizer, train: Examples, val: Examples,
                   test: Examples) -> tuple[Examples, Examples, dict[str, Any]]:
    """TF-IDF one-vs-rest records, nearest-neighbour records, and the choices for the tags task."""
    train, val, test = _of(train, "tags"), _of(val, "tags"), _of(test, "tags")
    train_tags, val_references = [e["reference"] for e in train], [e["reference"] for e in val]
    train_features = vectorizer.transform([e["input"] for e in train])
    val_features = vectorizer.transform([e["input"] for e in val])
    test_features = vectorizer.transform([e["input"] for e in test])
    tagger = TagClassifier(train_features, train_tags)
    threshold, score = choose_tag_threshold(tagger, tagger.probabilities(val_features), val_references)
    choices = {
        "labels": len(tagger.binarizer.classes_),
        "threshold": threshold,
        "tfidf_val_f1": score,
        "nearest_val_f1": tag_scores(nearest_tags(train_features, train_tags, val_features), val_references)["f1"],
    }
    tfidf = [_record(e, ", ".join(tagger.tags(row, threshold)))
             for e, row in zip(test, tagger.probabilities(test_features))]
    nearest = [_record(e, tags) for e, tags in zip(test, nearest_tags(train_features, train_tags, test_features))]
    return tfidf, nearest, choices


def fit_and_predict(train: Examples, val: Examples, test: Examples) -> tuple[dict[str, Examples], dict[str, Any]]:
    """{baseline name: prediction records for the test examples}, and the choices made on validation.

    `train` are the training examples (see training_examples). A task absent from `test` gets no
    records; a baseline covering no test task gets an empty list, so every baseline has its file.
    """
    predictions: dict[str, Examples] = {name: [] for name in covers()}
    tasks = {e["task"] for e in test}
    for task in sorted(tasks):
        for split, examples in (("training", train), ("validation", val)):
            if not _of(examples, task):
                raise UserError(
                    f"the {split} examples hold no {task!r} example but the test examples do; rebuild the task "
                    "files with one tasks.names (stage build_tasks)"
                )
    predictions["baseline-lead"], choices = _lead_baseline(val, test, tasks)
    choices = {"train_articles": len({e["id"] for e in train}), **choices}
    if tasks & {"type", "tags"}:
        # Type and tags read the same text (summary + content): one vectorizer serves both and the neighbours.
        texts = {e["id"]: e["input"] for e in train if e["task"] in ("type", "tags")}
        vectorizer = fit_vectorizer(list(texts.values()))
        if "type" in tasks:
            predictions["baseline-majority"], typed, choices["type"] = _type_baselines(vectorizer, train, val, test)
            predictions["baseline-tfidf"] += typed
        if "tags" in tasks:
            tagged, predictions["baseline-nearest"], choices["tags"] = _tag_baselines(vectorizer, train, val, test)
            predictions["baseline-tfidf"] += tagged
    # In the order of the test file, like the LLM's predictions, so files of different models line up.
    position = {(e["id"], e["task"]): index for index, e in enumerate(test)}
    def in_test_order(records: Examples) -> Examples:
        return sorted(records, key=lambda record: position[record["id"], record["task"]])

    return {name: in_test_order(records) for name, records in predictions.items()}, choices
