"""Invented facts: the numbers and capitalised names in a generated text that its article does not contain.

A small model that writes a fluent summary may still put in a date, a speed or a place that the article never
mentions; ROUGE barely notices one wrong number among forty words. This is a lexical check, cheap and exact on
hand-checkable cases, not a judge of meaning: a number is supported when the article holds the same number in any
common spelling ("1,000" and "1000", "03" and "3", a date's parts), a name when the article holds the same word,
case-insensitively. Numbers written as words ("third") and facts that are wrong without a new word ("fourth place" of
a car the article places third) escape it.
"""

from __future__ import annotations

import re
from decimal import Decimal
from typing import NamedTuple

import numpy as np

from pressft.errors import UserError
from pressft.evaluation.metrics import Statistic, bootstrap_ci, paired_difference
from pressft.tasks import of_kind

# A number stands alone: not part of a model code such as "iX3", "320d" or "M5" (those count as names), nor glued to
# letters in any other way ("1.5kW", "6,500rpm", "3rd": like numbers written as words, those escape the check). The
# atomic group keeps the match from backing off to a number's first part (the "1" of "1.5kW").
_NUMBER = re.compile(r"(?<![\w.,])(?>\d+(?:[.,]\d+)*)(?!\w)")
_THOUSANDS = re.compile(r"\d{1,3}(?:,\d{3})+")
# Words: letters, digits and inner hyphens, apostrophes or ampersands ("Rolls-Royce", "BMW's").
_WORD = re.compile(r"[^\W_](?:[\w'’&-]*[^\W_])?")
_POSSESSIVE = re.compile(r"['’]s$", re.IGNORECASE)
# A month is a number of a date: "4 March 2025" and "04.03.2025" hold the same three numbers.
_MONTHS = {name: str(number) for number, name in enumerate(
    ("january", "february", "march", "april", "may", "june", "july", "august", "september", "october", "november",
     "december"), start=1)}


def _canonical(number: str) -> str:
    """One spelling of a decimal number: no leading zeros, no trailing decimal zeros ("03" -> "3", "3.50" -> "3.5")."""
    return format(Decimal(number).normalize(), "f")


def _words(text: str) -> list[str]:
    return [_POSSESSIVE.sub("", word) for word in _WORD.findall(text)]


def _month(word: str) -> str | None:
    """A capitalised month name's number ("March" -> "3"); lower-case "may" is a verb."""
    return _MONTHS.get(word.casefold()) if word[:1].isupper() else None


def numbers(text: str) -> list[str]:
    """The numbers of a text, canonical: "1,000" -> "1000", "3,5" and "3.5" -> "3.5", "03.12.2024" -> "3", "12",
    "2024" (a date or version with several dots is its parts), and month names as their number ("March" -> "3")."""
    found = [month for month in map(_month, _words(text)) if month]
    for token in _NUMBER.findall(text):
        if _THOUSANDS.fullmatch(token):
            found.append(_canonical(token.replace(",", "")))
        elif len(re.findall(r"[.,]", token)) > 1:
            found.extend(_canonical(part) for part in re.split(r"[.,]", token))
        else:
            found.append(_canonical(token.replace(",", ".")))
    return found


def names(text: str) -> list[str]:
    """Capitalised words and model codes of a text ("BMW", "Munich", "iX3", "320d"), without a possessive "'s";
    month names are numbers here."""
    return [word for word in _words(text) if not _month(word) and (
        any(ch.isupper() for ch in word) or any(ch.isdigit() for ch in word) and any(ch.isalpha() for ch in word))]


class Check(NamedTuple):
    """One answer against its article: how many numbers and names it holds, and those the article lacks."""

    numbers: int
    invented_numbers: tuple[str, ...]
    names: int
    invented_names: tuple[str, ...]


def check(answer: str, article: str) -> Check:
    """The answer's numbers and names that the article does not contain (each occurrence counts)."""
    article_numbers = set(numbers(article))
    article_words = {word.casefold() for word in _words(article)}
    answer_numbers, answer_names = numbers(answer), names(answer)
    return Check(len(answer_numbers), tuple(n for n in answer_numbers if n not in article_numbers),
                 len(answer_names), tuple(n for n in answer_names if n.casefold() not in article_words))


# --------------------------------------------------------------------------- per model, with intervals

# What is counted, under the names the metrics files use: the share of the answers' numbers (names) that their
# articles lack, pooled over the answers so that an answer with ten numbers weighs ten times one with one.
INVENTED = ("invented_numbers", "invented_names")


def checks(records: list[dict], sources: dict[tuple[str, str], str]) -> list[Check]:
    """check() of each record {'id', 'task', 'prediction'} against the input of its test example."""
    missing = [key for key in ((str(r["id"]), r["task"]) for r in records) if key not in sources]
    if missing:
        raise UserError(f"predictions for {len(missing)} examples (first: article {missing[0][0]}, task "
                        f"{missing[0][1]}) have no test example to check against; pass the test file they answer")
    return [check(r["prediction"], sources[str(r["id"]), r["task"]]) for r in records]


def _share_statistic(ids: list[str], invented: list[int], counted: list[int]) -> Statistic:
    invented_array, counted_array = np.asarray(invented, dtype=float), np.asarray(counted, dtype=float)

    def compute(indices: np.ndarray) -> np.ndarray:
        total = counted_array[indices].sum(axis=1)
        # No number at all in the resampled answers: nothing invented.
        return np.divide(invented_array[indices].sum(axis=1), total, out=np.zeros_like(total), where=total > 0)

    return Statistic(ids, compute)


def invented_facts(records: list[dict], sources: dict[tuple[str, str], str]) -> tuple[dict, dict[str, Statistic]]:
    """The invented-fact metrics of one task's records (sorted by article id, as the scorer sorts them), and their
    statistics for the bootstrap: {'invented_numbers', 'invented_names', 'answers_with_invented_numbers',
    'numbers_checked', 'names_checked'}."""
    ids = [str(r["id"]) for r in records]
    found = checks(records, sources)
    statistics = {
        "invented_numbers": _share_statistic(ids, [len(c.invented_numbers) for c in found], [c.numbers for c in found]),
        "invented_names": _share_statistic(ids, [len(c.invented_names) for c in found], [c.names for c in found]),
    }
    scores = {key: round(statistic.value, 4) for key, statistic in statistics.items()}
    scores["answers_with_invented_numbers"] = round(
        sum(bool(c.invented_numbers) for c in found) / len(found), 4) if found else 0.0
    scores["numbers_checked"] = sum(c.numbers for c in found)
    scores["names_checked"] = sum(c.names for c in found)
    return scores, statistics


def add_invented_intervals(scores: dict, statistics: dict[str, Statistic], resamples: int, seed: int, *,
                           confidence: float) -> None:
    """<metric>_ci_low / <metric>_ci_high beside each invented-fact share, in place."""
    for key, statistic in statistics.items():
        scores[f"{key}_ci_low"], scores[f"{key}_ci_high"] = bootstrap_ci(statistic, resamples, seed,
                                                                          confidence=confidence)


def compare_invented(metrics: dict[str, dict], statistics: dict[str, dict[str, dict[str, Statistic]]],
                     resamples: int, seed: int, *, confidence: float, model: str = "finetuned") -> dict[str, dict]:
    """{task: {metric: entry}}: the model's invented-fact shares against every other model that answered the task
    (the base and the lead baseline), as paired bootstrap differences where fewer is better."""
    out: dict[str, dict] = {}
    for task, by_metric in statistics.get(model, {}).items():
        others = [name for name in statistics if name != model and task in statistics[name]]
        out[task] = {}
        for key, statistic in by_metric.items():
            entry = {name: metrics[name][task][key] for name in (model, *others)}
            for other in others:
                entry[f"{model}_minus_{other}"] = paired_difference(
                    statistic, statistics[other][task][key], resamples, seed, confidence=confidence,
                    lower_is_better=True)
            out[task][key] = entry
    return out


def score_invented(records: list[dict], sources: dict[tuple[str, str], str]) -> tuple[dict, dict]:
    """invented_facts() of each free-text task (kind "text") in one model's records: ({task: scores},
    {task: statistics}). Tags and labels are chosen from fixed vocabularies; they are checked by their own metrics."""
    scores, statistics = {}, {}
    for task in (spec.name for spec in of_kind("text")):
        recs = sorted((r for r in records if r["task"] == task), key=lambda r: str(r.get("id", "")))
        if recs:
            scores[task], statistics[task] = invented_facts(recs, sources)
    return scores, statistics
