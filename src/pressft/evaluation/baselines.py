"""Simple baselines as "models" of the comparison: lead words, majority class, TF-IDF classifiers, nearest neighbours.

A fine-tuned model's score means little on its own: on the reference study's data the first 45 words
of an article score about as well as its fine-tuned summaries, the tags of the most similar training
article about as well as its generated tags, and always answering the majority type beats it on
accuracy. Where the prompt offers the similar articles' types (tasks.neighbours), the base model answers the
first one offered, the nearest article's type, nearly always: that type is a baseline of its own. Each baseline here
is trained on the same training articles as the LLM (pool examples with rank < train.size), tunes its one free
setting on the validation examples, and writes prediction records in the LLM's format ({id, task, reference,
prediction}) so the scorer scores them unchanged.

A task names its baselines in the registry (pressft.tasks); FITTERS says how each baseline answers a task of each kind.
"""

from __future__ import annotations

import re
import warnings
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from statistics import fmean
from typing import Any, NamedTuple

import numpy as np
from rouge_score import rouge_scorer
from sklearn.dummy import DummyClassifier
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.multiclass import OneVsRestClassifier
from sklearn.preprocessing import MultiLabelBinarizer

from pressft.data.neighbours import fit_vectorizer, nearest
from pressft.errors import UserError
from pressft.evaluation.metrics import tag_rows, tag_scores, type_scores
from pressft.tasks import REGISTRY, LeadRule, Task

Examples = list[dict[str, Any]]

TAG_THRESHOLDS = tuple(round(0.05 * step, 2) for step in range(1, 11))
# The nearest-article baseline's choices, (rule, k), tried in this order (a tie keeps the earlier): the tags of the
# nearest article (vote at k=1); those most of the k nearest carry (a vote, which drops the one article's
# idiosyncratic tags; odd k so a majority is never a tie); or the whole tag line of the one of the k nearest that
# agrees most with the others (a line the house actually wrote, where a vote can mix lines into one nobody wrote).
NEAREST_RULES = (("vote", 1), ("vote", 3), ("vote", 5), ("vote", 7), ("agree", 3), ("agree", 5), ("agree", 7))
# For a label task, the k whose nearest articles' majority label is answered, tried in this order (a tie keeps the
# smaller): k=1 is the nearest article's label, which is what a prompt offering the neighbours' labels puts first.
NEAREST_LABEL_K = (1, 3, 5, 7)
SEED = 0
# Sentence end: . ! or ? (and any closing quote or bracket) before whitespace. Abbreviations
# ("Dr. Smith", "approx. 40") end a "sentence" too: good enough for a baseline, and no tokenizer data to fetch.
_SENTENCE_END = re.compile(r"[.!?][\"'”’)\]]*(?=\s)")


def covers() -> dict[str, tuple[str, ...]]:
    """{baseline: the tasks it answers}, from the tasks' baseline families; a baseline has records only for the tasks
    that are in the test examples."""
    names = dict.fromkeys(name for task in REGISTRY.values() for name in task.baselines)
    return {name: tuple(task.name for task in REGISTRY.values() if name in task.baselines) for name in names}


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


def lead_rule(inputs: list[str], references: list[str], lead: LeadRule) -> dict[str, Any]:
    """The candidate of `lead` with the highest mean ROUGE F1 on the validation examples: the lead-k words of the
    best k, or the first sentence where tried and at least as good. Returned as written to the choices file."""
    k, score = choose_lead_k(inputs, references, lead.words, lead.metric)
    if not lead.first_sentence:
        return {"lead_k": k, f"val_{lead.metric}": round(score, 4)}
    sentence = mean_rouge([first_sentence(text) for text in inputs], references, lead.metric)
    if sentence >= score:
        return {"rule": "first_sentence", f"val_{lead.metric}": round(sentence, 4)}
    return {"rule": "lead", "k": k, f"val_{lead.metric}": round(score, 4)}


def _lead_k(rule: dict[str, Any]) -> int:
    """The word count of a lead rule: lead_k where the first sentence was not tried, k where it was."""
    return rule["lead_k"] if "lead_k" in rule else rule["k"]


def apply_lead_rule(text: str, rule: dict[str, Any]) -> str:
    if rule.get("rule") == "first_sentence":
        return first_sentence(text)
    return lead_words(text, _lead_k(rule))


def fit_label_classifier(features, labels: list[str]):
    """Balanced logistic regression: classes (article types) are imbalanced and the headline metric is macro-F1.

    With a single class in the training articles there is nothing to separate (LogisticRegression
    refuses one class), so the classifier answers that class.
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
        self.on_every_article = bool(targets.all())

    def probabilities(self, features) -> np.ndarray:
        """(articles, tags) probabilities, in the order of binarizer.classes_."""
        probabilities = self.model.predict_proba(features)
        if len(self.binarizer.classes_) > 1:
            return probabilities
        # A single tag: one-vs-rest answers as a binary classifier, columns (not the tag, the tag); but a tag on every
        # training article gets sklearn's constant predictor, whose columns come the other way round. It is certain.
        return np.ones_like(probabilities[:, -1:]) if self.on_every_article else probabilities[:, -1:]

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


def agreeing_line(lines: list[str]) -> str:
    """The line whose tags agree most with all the lines' (summed per-sample tag F1, the scorer's); tie: the first."""
    agreement = [sum(row["f1"] for row in tag_rows([line] * len(lines), lines)) for line in lines]
    return lines[agreement.index(max(agreement))]


def nearest_tags(train_features, train_tags: list[list[str]], features, k: int = 1, rule: str = "vote") -> list[str]:
    """For each row of `features`, an answer from the tags of its k most similar training articles (TF-IDF cosine).

    rule "vote": the tags that a majority of the k carry, joined: the nearest article's tags at k=1. Tags are counted
    case-folded and written as the nearer article spells them, in order of nearness; where no tag has a majority, the
    nearest article's tags. rule "agree": the tag line of the one of the k that agrees most with the others
    (agreeing_line; the nearer on a tie)."""
    if rule not in ("vote", "agree"):
        raise ValueError(f"rule must be 'vote' or 'agree', got {rule!r}")
    answers = []
    for rows in nearest(train_features, features, k):
        if rule == "agree":
            answers.append(agreeing_line([", ".join(train_tags[row]) for row in rows]))
            continue
        votes, spelled = Counter(), {}
        for row in rows:
            tags = {tag.strip().casefold(): tag.strip() for tag in train_tags[row]}  # one vote per article
            votes.update(tags.keys())
            for key, tag in tags.items():
                spelled.setdefault(key, tag)
        chosen = [tag for key, tag in spelled.items() if votes[key] > len(rows) / 2]
        answers.append(", ".join(chosen or train_tags[rows[0]]))
    return answers


def nearest_labels(train_features, train_labels: list[str], features, k: int = 1) -> list[str]:
    """For each row of `features`, the label most of its k most similar training articles carry (TF-IDF cosine): the
    nearest article's label at k=1; on a tie, the tied label of the nearer article."""
    # most_common sorts by count only and keeps insertion order among equal counts: here, the order of nearness.
    return [Counter(train_labels[row] for row in rows).most_common(1)[0][0]
            for rows in nearest(train_features, features, k)]


# ------------------------------------------------------------------ the fitters, by baseline and task kind


class TaskData(NamedTuple):
    """One task's examples, and the TF-IDF vectorizer of the run (None when no fitter of the run reads features)."""

    train: Examples
    val: Examples
    test: Examples
    vectorizer: TfidfVectorizer | None

    def features(self, examples: Examples):
        return self.vectorizer.transform([e["input"] for e in examples])


def _lead(task: Task, data: TaskData) -> tuple[list[str], dict[str, Any]]:
    if task.lead is None:
        raise UserError(f"task {task.name!r} declares baseline-lead but no lead= (the word counts to try and the "
                        "ROUGE to choose by); give it a LeadRule in pressft.tasks")
    rule = lead_rule([e["input"] for e in data.val], [e["reference"] for e in data.val], task.lead)
    return [apply_lead_rule(e["input"], rule) for e in data.test], rule


def _majority(task: Task, data: TaskData) -> tuple[list[str], dict[str, Any]]:
    majority = majority_label([e["answer"] for e in data.train])
    return [majority] * len(data.test), {"majority": majority}


def _label_classifier(task: Task, data: TaskData) -> tuple[list[str], dict[str, Any]]:
    classifier = fit_label_classifier(data.features(data.train), [e["answer"] for e in data.train])
    val_predicted = [str(label) for label in classifier.predict(data.features(data.val))]
    score = type_scores(val_predicted, [e["reference"] for e in data.val], task.labels)["macro_f1"]
    return [str(label) for label in classifier.predict(data.features(data.test))], {"tfidf_val_macro_f1": score}


def _set_classifier(task: Task, data: TaskData) -> tuple[list[str], dict[str, Any]]:
    tagger = TagClassifier(data.features(data.train), [e["reference"] for e in data.train])
    val_probabilities = tagger.probabilities(data.features(data.val))
    threshold, score = choose_tag_threshold(tagger, val_probabilities, [e["reference"] for e in data.val])
    predictions = [", ".join(tagger.tags(row, threshold)) for row in tagger.probabilities(data.features(data.test))]
    return predictions, {"labels": len(tagger.binarizer.classes_), "threshold": threshold, "tfidf_val_f1": score}


def _nearest_set(task: Task, data: TaskData) -> tuple[list[str], dict[str, Any]]:
    train_features, train_sets = data.features(data.train), [e["reference"] for e in data.train]
    val_features, references = data.features(data.val), [e["reference"] for e in data.val]
    scores = [(tag_scores(nearest_tags(train_features, train_sets, val_features, k, rule), references)["f1"], rule, k)
              for rule, k in NEAREST_RULES]
    score, rule, k = max(scores, key=lambda choice: choice[0])  # tie: the earlier in NEAREST_RULES
    return nearest_tags(train_features, train_sets, data.features(data.test), k, rule), {
        "nearest_rule": rule, "nearest_k": k, "nearest_val_f1": score}


def _nearest_label(task: Task, data: TaskData) -> tuple[list[str], dict[str, Any]]:
    train_features, train_labels = data.features(data.train), [e["answer"] for e in data.train]
    val_features, references = data.features(data.val), [e["reference"] for e in data.val]
    scores = [(type_scores(nearest_labels(train_features, train_labels, val_features, k), references,
                           task.labels)["macro_f1"], k) for k in NEAREST_LABEL_K]
    score, k = max(scores, key=lambda choice: choice[0])  # tie: the smaller k
    return nearest_labels(train_features, train_labels, data.features(data.test), k), {
        "nearest_k": k, "nearest_val_macro_f1": score}


def _lead_method(chosen: dict[str, Any]) -> str:
    if chosen.get("rule") == "first_sentence":
        return "the article's first sentence"
    return f"the article's first {_lead_k(chosen)} words"


def _nearest_label_method(chosen: dict[str, Any]) -> str:
    if chosen["nearest_k"] == 1:
        return "the label of the nearest training article (TF-IDF)"
    return f"the label most of the {chosen['nearest_k']} nearest training articles (TF-IDF) carry"


def _nearest_set_method(chosen: dict[str, Any]) -> str:
    k = chosen["nearest_k"]
    if chosen["nearest_rule"] == "agree":
        return f"the tag line of the one of the {k} nearest training articles (TF-IDF) that agrees most with the others"
    if k == 1:
        return "the tags of the nearest training article (TF-IDF)"
    return f"the tags that most of the {k} nearest training articles (TF-IDF) carry"


@dataclass(frozen=True)
class Fitter:
    """How one baseline answers one task: predictions for the test examples, and the choices it made on validation;
    `method` says in words what it answered with, from those choices (for the report)."""

    fit: Callable[[Task, TaskData], tuple[list[str], dict[str, Any]]]
    reads_features: bool  # the inputs as TF-IDF features
    method: Callable[[dict[str, Any]], str]


# (baseline, task kind) -> its fitter. The order is the order of the choices file: per task, each baseline's choices.
FITTERS: dict[tuple[str, str], Fitter] = {
    ("baseline-lead", "text"): Fitter(_lead, reads_features=False, method=_lead_method),
    ("baseline-majority", "label"): Fitter(_majority, reads_features=False, method=lambda chosen: (
        f"the training articles' majority label, {chosen['majority']}")),
    ("baseline-tfidf", "label"): Fitter(_label_classifier, reads_features=True,
                                        method=lambda chosen: "TF-IDF + class-balanced logistic regression"),
    ("baseline-tfidf", "set"): Fitter(_set_classifier, reads_features=True, method=lambda chosen: (
        f"TF-IDF + one-vs-rest logistic regression, the tags whose probability reaches {chosen['threshold']:g}")),
    ("baseline-nearest", "set"): Fitter(_nearest_set, reads_features=True, method=_nearest_set_method),
    ("baseline-nearest", "label"): Fitter(_nearest_label, reads_features=True, method=_nearest_label_method),
}


def method(baseline: str, task: str, choices: dict[str, Any]) -> str:
    """What `baseline` answered `task` with, in words, from the choices file of fit_and_predict."""
    return FITTERS[baseline, REGISTRY[task].kind].method(choices[task])


def check_fitters() -> None:
    """Every baseline a registered task declares has a fitter for the task's kind."""
    for task in REGISTRY.values():
        for name in task.baselines:
            if (name, task.kind) not in FITTERS:
                served = [baseline for baseline, kind in FITTERS if kind == task.kind]
                raise UserError(f"task {task.name!r} declares {name}, which has no fitter for {task.kind} tasks; "
                                f"declare one of {', '.join(served) or 'none'} or add one to evaluation.baselines.FITTERS")


def fit_and_predict(train: Examples, val: Examples, test: Examples) -> tuple[dict[str, Examples], dict[str, Any]]:
    """{baseline name: prediction records for the test examples}, and the choices made on validation.

    `train` are the training examples (see training_examples). A task absent from `test` gets no
    records; a baseline covering no test task gets an empty list, so every baseline has its file.
    """
    check_fitters()
    tasks = {e["task"] for e in test}
    for task in sorted(tasks):
        for split, examples in (("training", train), ("validation", val)):
            if not _of(examples, task):
                raise UserError(
                    f"the {split} examples hold no {task!r} example but the test examples do; rebuild the task "
                    "files with one tasks.names (stage build_tasks)"
                )
    runs = [(name, spec, fitter) for (name, kind), fitter in FITTERS.items()
            for spec in REGISTRY.values() if spec.name in tasks and spec.kind == kind and name in spec.baselines]
    vectorizer = None
    if any(fitter.reads_features for _, _, fitter in runs):
        # The tasks read by features share one vectorizer (and its vocabulary): each article's text once per input.
        read = {spec.name for _, spec, fitter in runs if fitter.reads_features}
        texts = dict.fromkeys((e["id"], e["input"]) for e in train if e["task"] in read)
        vectorizer = fit_vectorizer([text for _, text in texts])
    predictions: dict[str, Examples] = {name: [] for name in covers()}
    choices: dict[str, Any] = {"train_articles": len({e["id"] for e in train})}
    for name, spec, fitter in runs:
        data = TaskData(_of(train, spec.name), _of(val, spec.name), _of(test, spec.name), vectorizer)
        predicted, chosen = fitter.fit(spec, data)
        predictions[name] += [_record(e, prediction) for e, prediction in zip(data.test, predicted, strict=True)]
        choices.setdefault(spec.name, {}).update(chosen)
    # In the order of the test file, like the LLM's predictions, so files of different models line up.
    position = {(e["id"], e["task"]): index for index, e in enumerate(test)}
    def in_test_order(records: Examples) -> Examples:
        return sorted(records, key=lambda record: position[record["id"], record["task"]])

    return {name: in_test_order(records) for name, records in predictions.items()}, choices
