"""The tasks built from one article, each defined once: the article fields it needs, its input and answer, how a
model's output is parsed, its metrics and headline metric, and the baselines that answer it.

Scoring, baselines, training, plotting, the report, the study and answering read this registry and never a task's
name: what they do for a task follows from its `kind` and what it declares. It stays light to import (build_tasks
needs no torch and no scorer): the metrics live in evaluation.metrics and the baseline fitters in
evaluation.baselines, both chosen by a task's `kind`.
"""

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from pressft.errors import UserError

ARTICLE_TYPES = ("Press Release", "Press Kit", "Speech", "Fact & Figures")

# One spelling of each metric for the plots, the report and the study.
METRIC_NAMES = {
    "rouge1": "ROUGE-1 F1", "rouge2": "ROUGE-2 F1", "rougeL": "ROUGE-L F1", "bertscore_f1": "BERTScore F1",
    "avg_words": "avg words", "length_ratio": "length ratio (± std)", "well_formed": "well-formed",
    "perplexity": "perplexity of the reference", "exact_match": "exact match", "jaccard": "Jaccard",
    "precision": "precision", "recall": "recall", "f1": "F1 (per article)", "micro_f1": "micro-F1",
    "macro_f1": "macro-F1", "accuracy": "accuracy",
}
# What each metric kind of evaluation.metrics reports, in the order plots and the report show them.
_TEXT_METRICS = ("rouge1", "rouge2", "rougeL", "bertscore_f1")
_TEXT_ROWS = ("avg_words", "length_ratio", "well_formed", "perplexity")


# ------------------------------------------------------------------ parsing a model's output

_TAG_SPLIT = re.compile(r"[,;\n]")
_BULLET = re.compile(r"^[-*•\s]+")
_EDGE_PUNCT = " \t.,:;!?\"'*`_()[]"  # markdown emphasis, quotes and a trailing full stop
_TAG_EDGE = " \t.:!?\"'*`_"  # the same around a tag, but brackets, which a tag may close ("BMW i (electric)")


def parse_tags(text: str) -> list[str]:
    """Split on commas, semicolons or newlines, drop '-'/'*'/'•' bullets and the markdown emphasis, quotes or full
    stop around a tag ("**BMW M**", "MINI."), de-duplicate case-insensitively (first spelling kept)."""
    seen, tags = set(), []
    for part in _TAG_SPLIT.split(text):
        tag = _BULLET.sub("", part).strip(_TAG_EDGE)
        if tag and tag.casefold() not in seen:
            seen.add(tag.casefold())
            tags.append(tag)
    return tags


def drop_cut_tag(text: str) -> str:
    """A tag list that its token limit cut, without the last tag unless a separator closed it: the limit may have cut
    that tag short ("…, MINI John" of "MINI John Cooper Works"), and a fragment is no tag. With no separator at all,
    nothing of the answer is a complete tag."""
    ends = list(_TAG_SPLIT.finditer(text))
    last = ends[-1].end() if ends else 0
    if not _BULLET.sub("", text[last:]).strip(_TAG_EDGE):
        return text  # the limit came right after a separator
    return text[: ends[-1].start()] if ends else ""


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


def _non_blank(text: str) -> bool:
    return bool(text.strip())


def _short_line(text: str) -> bool:
    return bool(text.strip()) and "\n" not in text.strip() and len(text.split()) <= 30


# ------------------------------------------------------------------ the registry


@dataclass(frozen=True)
class LeadRule:
    """What the lead baseline tries on a text task, keeping what scores the best mean `metric` (a ROUGE of
    rouge_score) on the validation examples: the first k words for each k of `words`, and the first sentence when
    `first_sentence`."""

    words: tuple[int, ...]
    metric: str
    first_sentence: bool = False


@dataclass(frozen=True)
class Task:
    """One task. `kind` picks its metrics in evaluation.metrics, its baseline fitters in evaluation.baselines and its
    figure: "text" (ROUGE and BERTScore; the output-length figure), "set" (set F1 over a list answer; the per-element
    F1 figure) or "label" (classification into `labels`, macro-F1; the confusion figure, and its classes balanced in
    training)."""

    name: str
    title: str  # display name in figures and the study
    needs: tuple[str, ...]  # article fields the answer is made of: an article lacking one gets no example of the task
    answer: Callable[[dict[str, Any]], str]
    kind: str
    headline: str  # the metric that decides "better"
    # Optional article fields put before the content in the input, each only where the article has it.
    context: tuple[str, ...] = ()
    # What is scored; the answer when None. A set task keeps the list, so it is scored as a set.
    reference: Callable[[dict[str, Any]], Any] | None = None
    labels: tuple[str, ...] = ()  # a label task's classes
    well_formed: Callable[[str], bool] = _non_blank  # a text task's check of an output's shape
    baselines: tuple[str, ...] = ()  # the baseline models (evaluation.baselines) that answer this task
    lead: LeadRule | None = None  # a text task's settings for baseline-lead
    # What one answer (text, label) or one element of it (set) is called, singular and plural, in figures and report.
    nouns: tuple[str, str] = ("answer", "answers")
    # The article field this task's answer is: where an article lacks it, the model's answer stands in for it in the
    # input of the tasks that read it as context.
    provides: str = ""

    @property
    def metrics(self) -> tuple[str, ...]:
        """The kind's main metrics, as the comparison figure draws them."""
        return {"text": _TEXT_METRICS, "set": ("exact_match", "jaccard", "precision", "recall", "f1"),
                "label": ("accuracy", "macro_f1")}[self.kind]

    @property
    def rows(self) -> tuple[str, ...]:
        """The report's rows for this task: headline first."""
        rest = {"text": (*_TEXT_METRICS, *_TEXT_ROWS),
                "set": ("exact_match", "jaccard", "precision", "recall", "micro_f1", "macro_f1", "well_formed",
                        "perplexity"),
                "label": ("accuracy", "well_formed", "perplexity")}[self.kind]
        return (self.headline, *(key for key in rest if key != self.headline))

    @property
    def headline_name(self) -> str:
        return f"{self.title}: {METRIC_NAMES.get(self.headline, self.headline)}"

    def has_fields(self, article: dict[str, Any]) -> bool:
        return all(article.get(field) for field in self.needs)

    def input(self, article: dict[str, Any]) -> str:
        return "\n\n".join([*(article[field] for field in self.context if article.get(field)), article["content"]])

    def scored(self, article: dict[str, Any]) -> Any:
        return self.reference(article) if self.reference else self.answer(article)

    def complete(self, text: str, ended: bool) -> str:
        """A model's output without what its token limit cut short: a set task's unfinished last element. Text and
        label answers stay whole (a cut summary is still scored, and counted as not well-formed)."""
        return text if ended or self.kind != "set" else drop_cut_tag(text)

    def parse(self, text: str) -> Any:
        """A model's output for use: the tag list of a set task, the label (or None) of a label task, else the text."""
        if self.kind == "set":
            return parse_tags(text)
        if self.kind == "label":
            return normalize_label(text, self.labels)
        return text


# The reference study's four tasks. The tasks other than summarization read the summary before the content; the
# summary is the summarization answer, so it never enters that input.
REGISTRY: dict[str, Task] = {task.name: task for task in (
    Task("summarization", "Summarization", ("summary",), lambda article: article["summary"], "text", "rougeL",
         baselines=("baseline-lead",), lead=LeadRule(tuple(range(10, 81, 5)), "rougeL"), nouns=("summary", "summaries"),
         provides="summary"),
    Task("title", "Title generation", ("title",), lambda article: article["title"], "text", "rouge1",
         context=("summary",), well_formed=_short_line, baselines=("baseline-lead",),
         lead=LeadRule(tuple(range(4, 21)), "rouge1", first_sentence=True), nouns=("title", "titles")),
    Task("tags", "Tag extraction", ("tags",), lambda article: ", ".join(article["tags"]), "set", "f1",
         context=("summary",), reference=lambda article: article["tags"],
         baselines=("baseline-tfidf", "baseline-nearest"), nouns=("tag", "tags")),
    Task("type", "Type classification", ("type",), lambda article: article["type"], "label", "macro_f1",
         context=("summary",), labels=ARTICLE_TYPES,
         baselines=("baseline-majority", "baseline-tfidf", "baseline-nearest"), nouns=("type", "types")),
)}
# Every article has these: the id comes from the URL, the content is every task's input, the type stratifies the
# splits, and the date tells apart same-titled articles (monthly reports) when duplicates are removed.
MANDATORY = ("url", "date", "type", "content")
# Fields only some tasks need: an article without one is kept for the tasks that do not need it.
OPTIONAL = ("title", "summary", "tags")


def of_kind(kind: str) -> list[Task]:
    """The registered tasks of one kind, in registry order."""
    return [task for task in REGISTRY.values() if task.kind == kind]


def label_choices(names, method: str) -> dict[str, tuple[str, ...]]:
    """{task: its labels} of the label tasks among `names` that answer by likelihood (param infer.label_method), for
    generation.generate_predictions(labels=...); empty when labels are generated."""
    return {task.name: task.labels for task in of_kind("label") if task.name in names and method == "likelihood"}


def repeated_labels(repeats: dict[str, dict[str, int]]) -> str:
    """The labels whose examples training repeated ({task: {label: k}}, training.label_repeats), as "Press Kit ×4,
    Speech ×4": what the likelihood choice corrects for; "" where no label was repeated (k = 1 corrects nothing)."""
    return ", ".join(f"{label} ×{k}" for counts in repeats.values() for label, k in counts.items() if k != 1)


def get_task(name: str) -> Task:
    try:
        return REGISTRY[name]
    except KeyError:
        raise UserError(f"unknown task {name!r}; choose from {', '.join(REGISTRY)}") from None


def make_examples(article: dict[str, Any], names: list[str],
                  prompts: dict[str, Any]) -> list[dict[str, Any]]:
    """One example per task whose fields the article has: the prompt parts kept apart so the input can be shortened
    to a token budget later."""
    return [
        {
            "id": article["id"],
            "task": task.name,
            "system": prompts[task.name].system,
            "instruction": prompts[task.name].instruction,
            "input": task.input(article),
            "answer": task.answer(article),
            "reference": task.scored(article),
            "article_type": article["type"],
        }
        for task in map(get_task, names)
        if task.has_fields(article)
    ]
