"""Invented facts (evaluation.faithfulness): numbers and names that the article does not contain, on hand-made cases."""

import numpy as np
import pytest

from pressft.errors import UserError
from pressft.evaluation.faithfulness import (
    check,
    compare_invented,
    invented_facts,
    names,
    numbers,
    score_invented,
)
from pressft.presentation.report import invented_section

ARTICLE = ("Munich. On 04.03.2025 the BMW Group delivered 1,000 BMW iX3 to customers in Debrecen. The car charges "
           "at 400 kW and reaches 3.50 metres of legroom... The M5 Touring's launch follows in June.")


def test_numbers_in_their_common_spellings():
    assert numbers("1,000 and 1000 and 1,000,000") == ["1000", "1000", "1000000"]
    assert numbers("3.50 m, 3,5 kg, 007, 50%") == ["3.5", "3.5", "7", "50"]
    # A date with dots is its parts; a month name is its number; "may" the verb is no month.
    assert sorted(numbers("04.03.2025")) == sorted(numbers("4 March 2025")) == ["2025", "3", "4"]
    assert numbers("It may rain.") == []
    # Model codes are names, not numbers.
    assert numbers("the iX3, the 320d and the M5") == []
    # Nor is a number glued to letters, nor any part of one (not the "1" of "1.5kW", not the "5" of "5,000,000th").
    assert numbers("a 1.5kW charger at 6,500rpm, in 2024.") == ["2024"]
    assert numbers("the 5,000,000th car, 1st and 3rd place") == []


def test_names_are_capitalised_words_and_model_codes():
    assert names("The BMW iX3's range in Munich, Rolls-Royce and the 320d in March.") == [
        "The", "BMW", "iX3", "Munich", "Rolls-Royce", "320d"]


def test_a_number_written_differently_is_not_invented():
    assert check("BMW delivered 1000 cars on 4 March 2025.", ARTICLE).invented_numbers == ()
    assert check("BMW delivered 1,500 cars on 5 March 2025.", ARTICLE).invented_numbers == ("1500", "5")
    assert check("The engine revs to 6,500rpm.", "The engine revs to 6,500 rpm.").invented_numbers == ()


def test_a_model_name_the_article_lacks_is_invented():
    found = check("The BMW iX5 and the M5 Touring charge in Berlin at 400 kW.", ARTICLE)
    assert found.names == 7 and found.invented_names == ("iX5", "Berlin")
    assert found.numbers == 1 and found.invented_numbers == ()


def _records(answers: list[str], task: str = "summarization") -> list[dict]:
    return [{"id": f"a{i}", "task": task, "prediction": answer} for i, answer in enumerate(answers)]


SOURCES = {(f"a{i}", task): ARTICLE for i in range(40) for task in ("summarization", "title")}


def test_shares_are_pooled_over_the_answers():
    records = _records(["1,000 cars in 2026 and 7 more.", "Nothing with numbers.", "400 kW."])
    scores, statistics = invented_facts(records, SOURCES)
    # 2 of the 4 numbers are invented (2026, 7); one answer of three holds an invented number.
    assert scores["invented_numbers"] == 0.5 and scores["numbers_checked"] == 4
    assert scores["answers_with_invented_numbers"] == round(1 / 3, 4)
    assert statistics["invented_numbers"](np.array([[1, 1, 1]]))[0] == 0.0  # no number in the resample: none invented


def test_only_free_text_tasks_are_checked():
    records = _records(["9 cars."]) + [{"id": "a0", "task": "tags", "prediction": "99 Tags"}]
    scores, _ = score_invented(records, SOURCES)
    assert list(scores) == ["summarization"]


def test_fewer_invented_numbers_is_better():
    invents = _records(["BMW built 12 cars in 1999."] * 40)
    copies = _records(["BMW delivered 1,000 cars."] * 40)
    metrics, statistics = {}, {}
    for name, records in (("finetuned", copies), ("base", invents)):
        scores, statistics[name] = score_invented(records, SOURCES)
        metrics[name] = scores
    comparison = compare_invented(metrics, statistics, resamples=200, seed=0, confidence=0.95)
    entry = comparison["summarization"]["invented_numbers"]
    assert entry["finetuned"] == 0.0 and entry["base"] == 1.0
    assert entry["finetuned_minus_base"]["diff"] == -1.0 and entry["finetuned_minus_base"]["verdict"] == "better"


def test_an_answer_without_its_article_is_an_error():
    with pytest.raises(UserError, match="article b7, task title.*pass the test file"):
        invented_facts([{"id": "b7", "task": "title", "prediction": "x"}], SOURCES)


def test_report_lists_shares_comparisons_and_the_worst_answers():
    answers = {"finetuned": ["BMW built 12 cars in Berlin.", "BMW delivered 1,000 cars."],
               "base": ["In 1999 Audi built 3 cars.", "In 1998 and 1997."]}
    metrics, statistics, predictions = {}, {}, {}
    for name, texts in answers.items():
        predictions[name] = _records(texts)
        scores, statistics[name] = score_invented(predictions[name], SOURCES)
        metrics[name] = scores
    comparison = compare_invented(metrics, statistics, resamples=50, seed=0, confidence=0.95) | {"confidence": 0.95}
    for name in metrics:  # the report reads intervals beside the shares, as the score stage writes them
        for key in ("invented_numbers", "invented_names"):
            metrics[name]["summarization"][f"{key}_ci_low"] = metrics[name]["summarization"][f"{key}_ci_high"] = 0.5
    tests = [{"id": r["id"], "task": "summarization", "input": ARTICLE} for r in predictions["base"]]
    text = invented_section(metrics, comparison, tests, predictions)
    assert "| finetuned | 0.500 [0.500, 0.500] |" in text
    assert "Fine-tuned, share of invented numbers: vs base: " in text
    assert "article `a0`: `BMW built 12 cars in Berlin.` — not in the article: 12, Berlin" in text
