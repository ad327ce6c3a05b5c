"""Baselines: hand-checked helpers, choices made on validation, and the stage end to end on invented articles."""

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from ruamel.yaml import YAML

from pressft.config import PromptConfig
from pressft.evaluation.baselines import (
    FITTERS,
    TAG_THRESHOLDS,
    TagClassifier,
    TaskData,
    agreeing_line,
    apply_lead_rule,
    choose_lead_k,
    first_sentence,
    fit_and_predict,
    lead_words,
    nearest_labels,
    nearest_tags,
    majority_label,
    lead_rule,
    covers,
)
from pressft.data.splits import training_examples
from pressft.errors import UserError
from pressft.tasks import REGISTRY, make_examples

REPO = Path(__file__).resolve().parents[1]
PROMPTS = {task: PromptConfig(system="s", instruction="i") for task in REGISTRY}

# Three invented topics with their own vocabulary, tags and type.
TOPICS = {
    "racing": ("Racing circuit lap podium grid qualifying pit stop overtaking chequered flag.",
               ["Motorsport", "BMW M"], "Press Release"),
    "battery": ("Battery cell charging range kilowatt electric drivetrain recycling cathode.",
                ["Electromobility", "Sustainability"], "Press Release"),
    "speech": ("Ladies and gentlemen thank you welcome dear guests honoured audience applause.",
               ["Corporate"], "Speech"),
}


def article(ident: str, topic: str, number: int, tags: list[str] | None = None, kind: str | None = None) -> dict:
    text, topic_tags, topic_type = TOPICS[topic]
    return {
        "id": ident,
        "title": f"{topic.capitalize()} news number {number}",
        "summary": f"{topic.capitalize()} summary {number}. {text}",
        "content": f"{text} Paragraph {number} adds detail.\n\n{text}",
        "tags": tags or topic_tags,
        "type": kind or topic_type,
    }


def examples(articles: list[dict], names=tuple(REGISTRY)) -> list[dict]:
    return [{**example, "rank": rank} for rank, a in enumerate(articles)
            for example in make_examples(a, list(names), PROMPTS)]


def corpus(prefix: str, per_topic: int) -> list[dict]:
    return [article(f"{prefix}-{topic}-{n}", topic, n) for n in range(per_topic) for topic in TOPICS]


# ------------------------------------------------------------------ pure helpers


def test_lead_words_counts_whitespace_words_across_paragraphs():
    assert lead_words("One two  three\n\nfour five", 4) == "One two three four"
    assert lead_words("One two", 10) == "One two"
    assert lead_words("One two", 0) == ""


@pytest.mark.parametrize(
    ("text", "sentence"),
    [
        ("The BMW iX3 arrives. It is blue!", "The BMW iX3 arrives."),
        ("Is it new? Yes.", "Is it new?"),
        ('He said "Go now." Then he left.', 'He said "Go now."'),
        ("A line without an end\n\nSecond paragraph.", "A line without an end"),
        ("\n\n  Leading blank lines.  More.", "Leading blank lines."),
        ("Version 2.5 ships today. Later more.", "Version 2.5 ships today."),  # no space after the dot: no end
        # Known limitation, documented at _SENTENCE_END: an abbreviation ends the sentence.
        ("Dr. Weber opens the plant.", "Dr."),
        ("", ""),
    ],
)
def test_first_sentence(text, sentence):
    assert first_sentence(text) == sentence


def test_lead_k_maximises_rouge_on_validation():
    words = [f"word{i}" for i in range(40)]
    inputs = [" ".join(words[i:] + words[:i]) for i in range(3)]
    references = [lead_words(text, 15) for text in inputs]  # the reference is exactly the first 15 words
    k, score = choose_lead_k(inputs, references, (10, 15, 20, 25), "rougeL")
    assert (k, score) == (15, 1.0)
    # Equal scores (both leads are the whole 40-word text): the smallest k wins.
    k, _ = choose_lead_k(inputs, [lead_words(text, 40) for text in inputs], (40, 45), "rougeL")
    assert k == 40


def test_lead_rule_picks_sentence_or_lead_words():
    title, summary = REGISTRY["title"].lead, REGISTRY["summarization"].lead
    inputs = ["The plant opens. Many more words follow here.", "A new car arrives. And then something else."]
    rule = lead_rule(inputs, ["The plant opens.", "A new car arrives."], title)
    assert rule == {"rule": "first_sentence", "val_rouge1": 1.0}
    long = ["alpha beta gamma delta epsilon zeta eta theta iota kappa lambda mu nu xi omicron pi rho.",
            "one two three four five six seven eight nine ten eleven twelve thirteen fourteen fifteen."]
    rule = lead_rule(long, [lead_words(text, 6) for text in long], title)
    assert rule == {"rule": "lead", "k": 6, "val_rouge1": 1.0}
    assert apply_lead_rule(long[1], rule) == "one two three four five six"
    # Without the sentence candidate (summaries), only lead-k words, chosen on the task's own ROUGE.
    rule = lead_rule(long, [lead_words(text, 15) for text in long], summary)
    assert rule == {"lead_k": 15, "val_rougeL": 1.0}
    assert apply_lead_rule(long[0], rule) == lead_words(long[0], 15)


def test_majority_label_is_the_most_frequent_training_type():
    assert majority_label(["Speech", "Press Kit", "Speech"]) == "Speech"
    assert majority_label(["Speech", "Press Kit"]) == "Press Kit"  # tie: alphabetically first, deterministic


def test_tag_classifier_threshold_keeps_at_least_the_most_probable_tag():
    features = np.eye(3)
    tagger = TagClassifier(features, [["Electric Mobility"], ["electric mobility", "Design"], ["Electric Mobility"]])
    assert list(tagger.binarizer.classes_) == ["design", "electric mobility"]  # one label per case-folded tag
    assert tagger.tags(np.array([0.2, 0.6]), 0.5) == ["Electric Mobility"]  # the most frequent spelling
    assert tagger.tags(np.array([0.2, 0.6]), 0.1) == ["Electric Mobility", "Design"]  # most probable first
    assert tagger.tags(np.array([0.3, 0.1]), 0.9) == ["Design"]  # none reaches it: the single best tag
    assert tagger.probabilities(features).shape == (3, 2)
    single = TagClassifier(features, [["Design"], ["design"], []])  # one tag: still one column, one tag out
    assert single.probabilities(features).shape == (3, 1) and single.tags(single.probabilities(features)[2], 0.9) == [
        "Design"]
    # Of a tag on two of three articles, the column is the tag's own: its articles the most probable.
    assert single.probabilities(features)[:2].min() > single.probabilities(features)[2, 0]
    everywhere = TagClassifier(features, [["Design"], ["design"], ["Design"]])  # a tag on every training article
    assert everywhere.probabilities(features).tolist() == [[1.0], [1.0], [1.0]]


# ------------------------------------------------------------------ fit_and_predict


def test_records_have_the_llm_format_one_per_test_example_and_covered_task():
    train, val, test = examples(corpus("train", 4)), examples(corpus("val", 1)), examples(corpus("test", 2))
    predictions, choices = fit_and_predict(train, val, test)
    # Which baseline answers which task comes from the tasks' baseline families.
    assert covers() == {"baseline-lead": ("summarization", "title"), "baseline-tfidf": ("tags", "type"),
                        "baseline-nearest": ("tags", "type"), "baseline-majority": ("type",)}
    assert set(predictions) == set(covers())
    test_ids = [e["id"] for e in test if e["task"] == "type"]
    for name, records in predictions.items():
        assert all(set(record) == {"id", "task", "reference", "prediction"} for record in records)
        assert all(isinstance(record["prediction"], str) and record["prediction"] for record in records)
        for task in covers()[name]:
            assert [r["id"] for r in records if r["task"] == task] == test_ids  # once each, in test order
        assert {r["task"] for r in records} == set(covers()[name])
    tags = next(r for r in predictions["baseline-tfidf"] if r["task"] == "tags")
    assert tags["reference"] == next(e["reference"] for e in test if e["task"] == "tags" and e["id"] == tags["id"])
    assert choices["summarization"]["lead_k"] in range(10, 81, 5)
    assert choices["tags"]["threshold"] in TAG_THRESHOLDS
    assert choices["train_articles"] == 12

    summaries = ["summarization"]
    only = fit_and_predict(examples(corpus("train", 4), summaries), examples(corpus("val", 1), summaries),
                           examples(corpus("test", 2), summaries))[0]
    assert {name: len(records) for name, records in only.items()} == {
        "baseline-lead": 6, "baseline-majority": 0, "baseline-tfidf": 0, "baseline-nearest": 0}


def test_tfidf_and_nearest_type_separate_classes_and_majority_answers_the_training_majority():
    train, val, test = examples(corpus("train", 4)), examples(corpus("val", 1)), examples(corpus("test", 2))
    predictions, choices = fit_and_predict(train, val, test)
    assert choices["type"] == {"majority": "Press Release", "tfidf_val_macro_f1": 1.0, "nearest_k": 1,
                               "nearest_val_macro_f1": 1.0}
    for name in ("baseline-tfidf", "baseline-nearest"):
        typed = [r for r in predictions[name] if r["task"] == "type"]
        assert [r["prediction"] for r in typed] == [r["reference"] for r in typed]
        assert {r["reference"] for r in typed} == {"Press Release", "Speech"}
    assert {r["prediction"] for r in predictions["baseline-majority"]} == {"Press Release"}


def test_nearest_copies_the_tags_of_the_article_sharing_the_vocabulary():
    train = examples([article("a", "racing", 1, tags=["Motorsport", "Track Days"]),
                      article("b", "battery", 1), article("c", "speech", 1)])
    predictions, _ = fit_and_predict(train, examples([article("v", "battery", 2)]),
                                     examples([article("t", "racing", 2, tags=["Motorsport"])]))
    assert [(r["task"], r["prediction"]) for r in predictions["baseline-nearest"]] == [
        ("tags", "Motorsport, Track Days"), ("type", "Press Release")]


def test_nearest_with_k_answers_the_tags_most_of_the_k_nearest_articles_carry():
    train = np.array([[1.0, 0.0], [0.9, 0.1], [0.8, 0.2], [0.0, 1.0]])  # rows 0, 1, 2 nearest to the query, in order
    query = np.array([[1.0, 0.0]])
    tags = [["BMW M", "Golf"], ["bmw m", "MINI"], ["MINI", "Corporate"], ["Golf", "Corporate"]]
    assert nearest_tags(train, tags, query) == ["BMW M, Golf"]  # k=1: the nearest article's tags
    assert nearest_tags(train, tags, query, k=3) == ["BMW M, MINI"]  # 2 of 3 votes, case-folded; as the nearer spells
    assert nearest_tags(train, [["A"], ["B"], ["C"], ["D"]], query, k=3) == ["A"]  # no majority: the nearest's tags


def test_nearest_labels_answers_the_label_most_of_the_k_nearest_carry_the_nearer_on_a_tie():
    train = np.array([[1.0, 0.0], [0.9, 0.1], [0.8, 0.2], [0.7, 0.3], [0.0, 1.0]])  # nearest to the query in order
    query = np.array([[1.0, 0.0]])
    labels = ["Speech", "Press Release", "Press Release", "Press Kit", "Speech"]
    assert nearest_labels(train, labels, query) == ["Speech"]  # k=1: the nearest article's label
    assert nearest_labels(train, labels, query, k=3) == ["Press Release"]  # 2 of 3
    assert nearest_labels(train, labels, query, k=4) == ["Press Release"]  # 2 of 4 against 1 and 1
    # A tie goes to the label of the nearer article: 1 and 1 at k=2; Speech and Press Release 2 each of all 5 (k=9)
    assert nearest_labels(train, ["Press Kit", "Speech", "Speech", "Press Kit", "Speech"], query, k=2) == ["Press Kit"]
    assert nearest_labels(train, labels, query, k=9) == ["Speech"]


def test_nearest_type_chooses_k_on_validation_and_records_it():
    # The validation and test articles lie where the first training article does (its label, Speech, is the odd one).
    train = [{"input": name, "answer": label} for name, label in zip("abcde", ["Speech", "Press Release",
                                                                         "Press Release", "Press Kit", "Speech"])]
    rows = np.array([[1.0, 0.0], [0.9, 0.1], [0.8, 0.2], [0.7, 0.3], [0.0, 1.0]])
    val = [{"input": "v", "reference": "Press Release"}]
    test = [{"input": "t", "reference": "Speech"}]
    vectors = _Vectors({**dict(zip("abcde", rows, strict=True)), "v": rows[0], "t": rows[0]})
    predicted, chosen = FITTERS["baseline-nearest", "label"].fit(REGISTRY["type"], TaskData(train, val, test, vectors))
    # Validation macro-F1: k=1 answers Speech (0.0); k=3, 5 and 7 answer Press Release (1.0): the smallest of these.
    assert chosen == {"nearest_k": 3, "nearest_val_macro_f1": 1.0}
    assert predicted == ["Press Release"]


def test_agreeing_line_is_the_line_with_the_most_f1_against_all_lines_the_first_of_equals():
    # F1 against the others: "A, B" 0.5 + 0.8 = 1.3; "A, C" 0.5 + 0.4 = 0.9; "A, B, D" 0.8 + 0.4 = 1.2 (case-folded)
    assert agreeing_line(["A, C", "a, b", "A, B, D"]) == "a, b"
    assert agreeing_line(["A", "B"]) == "A"  # equal agreement: the first (the nearer article)
    assert agreeing_line(["X"]) == "X"


# The nearest three hold three lines that pairwise share one tag; their vote is a line that none of them wrote.
NEAR = np.array([[1.0, 0.0], [0.9, 0.1], [0.8, 0.2], [0.0, 1.0]])  # rows 0, 1, 2 nearest to [1, 0], in order
NEAR_TAGS = [["BMW M", "MINI", "Golf"], ["BMW M", "Le Mans"], ["MINI", "Le Mans"], ["Corporate"]]


def test_nearest_with_the_agree_rule_answers_a_whole_line_of_the_k_nearest_not_a_mix():
    query = np.array([[1.0, 0.0]])
    assert nearest_tags(NEAR, NEAR_TAGS, query, k=3) == ["BMW M, MINI, Le Mans"]  # each tag 2 of 3 votes
    # Agreement: row 0 0.4 + 0.4, row 1 0.4 + 0.5, row 2 0.4 + 0.5: row 1, the nearer of the two
    assert nearest_tags(NEAR, NEAR_TAGS, query, k=3, rule="agree") == ["BMW M, Le Mans"]
    with pytest.raises(ValueError, match="rule must be 'vote' or 'agree', got 'best'"):
        nearest_tags(NEAR, NEAR_TAGS, query, rule="best")


class _Vectors:
    """A stand-in vectorizer: each input text's vector from a table."""

    def __init__(self, vectors: dict[str, np.ndarray]):
        self.vectors = vectors

    def transform(self, texts):
        return np.array([self.vectors[text] for text in texts])


def test_nearest_chooses_rule_and_k_on_validation_and_records_them():
    train = [{"input": name, "reference": tags} for name, tags in zip("abcd", NEAR_TAGS, strict=True)]
    val = [{"input": "v", "reference": ["BMW M", "Le Mans"]}]
    test = [{"input": "t", "reference": ["Golf"]}]
    vectors = _Vectors({**dict(zip("abcd", NEAR, strict=True)), "v": NEAR[0], "t": NEAR[0]})
    predicted, chosen = FITTERS["baseline-nearest", "set"].fit(REGISTRY["tags"], TaskData(train, val, test, vectors))
    # Validation F1: vote@1 0.4, vote@3 0.8, vote@5 and @7 (4 rows, no majority: the nearest's line) 0.4, agree@3 1.0;
    # agree@5 is 1.0 too, but later in NEAREST_RULES.
    assert chosen == {"nearest_rule": "agree", "nearest_k": 3, "nearest_val_f1": 1.0}
    assert predicted == ["BMW M, Le Mans"]


def test_only_training_articles_below_train_size_are_used():
    # Ranks 0-2 are the training articles; rank 3+ would make Speech the majority and leak the test text.
    pool = examples([article("a", "racing", 1), article("b", "battery", 1), article("c", "speech", 1)]
                    + [article(f"late{n}", "racing", 9, tags=["Leaked"], kind="Speech") for n in range(5)])
    train = training_examples(pool, 3)
    assert {e["id"] for e in train} == {"a", "b", "c"}
    predictions, choices = fit_and_predict(train, examples([article("v", "battery", 2)]),
                                           examples([article("t", "racing", 9)]))
    assert choices["type"]["majority"] == "Press Release" and choices["train_articles"] == 3
    assert "Leaked" not in json.dumps(predictions)
    with pytest.raises(UserError, match="train.size=9 exceeds the training pool of 8 articles"):
        training_examples(pool, 9)


def test_missing_validation_task_is_a_user_error():
    with pytest.raises(UserError, match="validation examples hold no 'tags' example"):
        fit_and_predict(examples(corpus("train", 2)), examples(corpus("val", 1), ["summarization", "title", "type"]),
                        examples(corpus("test", 1)))


def test_same_inputs_give_identical_records():
    runs = [fit_and_predict(examples(corpus("train", 4)), examples(corpus("val", 1)), examples(corpus("test", 2)))
            for _ in range(2)]
    assert json.dumps(runs[0]) == json.dumps(runs[1])


# ------------------------------------------------------------------ the stage


def _stage(tmp_path: Path, size: int) -> subprocess.CompletedProcess:
    yaml = YAML()
    params = yaml.load((REPO / "params.yaml").read_text())
    params["train"]["size"] = size
    with (tmp_path / "params.yaml").open("w") as out:
        yaml.dump(params, out)
    command = [sys.executable, str(REPO / "stages" / "baselines.py"), "--pool", "tasks/pool.jsonl", "--val",
               "tasks/val.jsonl", "--test", "tasks/test.jsonl", "--out", "predictions", "--choices", "metrics/b.json"]
    return subprocess.run(command, cwd=tmp_path, capture_output=True, text=True)


def test_stage_writes_four_prediction_files_and_the_choices(tmp_path, normalised_articles, config):
    from pressft.io import write_jsonl

    articles = normalised_articles(40)
    for name, members in {"test": articles[:8], "val": articles[8:16], "pool": articles[16:]}.items():
        rows = [{**e, "rank": rank} for rank, a in enumerate(members)
                for e in make_examples(a, config.tasks.names, config.tasks.prompts)]
        write_jsonl(rows, tmp_path / "tasks" / f"{name}.jsonl")

    done = _stage(tmp_path, 12)
    assert done.returncode == 0, done.stderr
    assert done.stdout.count("\n") == 5 and "baseline-nearest: 16 predictions (tags, type)" in done.stdout
    counts = {path.stem: len(path.read_text().splitlines()) for path in (tmp_path / "predictions").glob("*.jsonl")}
    assert counts == {"baseline-lead": 16, "baseline-majority": 8, "baseline-tfidf": 16, "baseline-nearest": 16}
    choices = json.loads((tmp_path / "metrics" / "b.json").read_text())
    assert choices["train_articles"] == 12 and set(choices) == {"train_articles", *REGISTRY}

    done = _stage(tmp_path, 100)  # below the embedded corpus' pool, so params pass; above these 24 articles
    assert done.returncode == 2
    assert done.stderr == ("error: param train.size=100 exceeds the training pool of 24 articles; use 1..24, or null "
                           "for all of them\n")
