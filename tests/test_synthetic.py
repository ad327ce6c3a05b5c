"""Behaviour of the synthetic PressClub corpus: determinism, schema, realism and learnability."""

import collections
import datetime
import hashlib
import json
import os
import re
import subprocess
import sys
import unicodedata

import pytest

from pressft.data.synthetic import generate_corpus

TYPES = ("Press Release", "Press Kit", "Speech", "Fact & Figures")
TARGET_SHARES = {"Press Release": 0.80, "Press Kit": 0.08, "Speech": 0.06, "Fact & Figures": 0.06}
WORDS = {"Press Release": (120, 260), "Press Kit": (220, 380), "Speech": (120, 260), "Fact & Figures": (120, 260)}


@pytest.fixture(scope="module")
def corpus():
    return generate_corpus(2000, seed=0)


def test_same_seed_is_identical_and_other_seed_differs():
    a, b = generate_corpus(300, seed=7), generate_corpus(300, seed=7)
    assert repr(a) == repr(b)
    assert generate_corpus(300, seed=8) != a


def test_identical_across_processes_with_different_hash_salts():
    """str hashing is salted per process; the corpus must not depend on it."""
    code = ("import hashlib, json; from pressft.data.synthetic import generate_corpus; "
            "print(hashlib.sha256(json.dumps(generate_corpus(400, 11)).encode()).hexdigest())")
    digests = {subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                              env={**os.environ, "PYTHONHASHSEED": salt}).stdout for salt in ("1", "2")}
    local = hashlib.sha256(json.dumps(generate_corpus(400, 11)).encode()).hexdigest()
    assert digests == {local + "\n"}


def test_empty_and_tiny_corpora():
    assert generate_corpus(0, seed=1) == []
    small = generate_corpus(5, seed=1)
    assert len(small) == 5


def test_schema(corpus):
    for art in corpus:
        assert list(art) == ["title", "date", "type", "summary", "tags", "url", "content"]
        for key in ("title", "date", "type", "summary", "url", "content"):
            assert isinstance(art[key], str) and art[key], key
        assert isinstance(art["tags"], list) and all(isinstance(t, str) for t in art["tags"])
        date = datetime.datetime.strptime(art["date"], "%d.%m.%Y")
        assert 2019 <= date.year <= 2025
        assert art["type"] in TYPES
        assert art["url"].startswith("https://synthetic.invalid/global/article/detail/T")
    years = collections.Counter(a["date"][-4:] for a in corpus)
    assert sorted(years) == [str(y) for y in range(2019, 2026)]


def test_type_proportions(corpus):
    counts = collections.Counter(a["type"] for a in corpus)
    assert set(counts) == set(TYPES)
    for kind, share in TARGET_SHARES.items():
        assert abs(counts[kind] / len(corpus) - share) < 0.025, (kind, counts[kind])


@pytest.mark.parametrize("seed", range(5))
def test_every_type_at_least_twice_in_small_corpora(seed):
    counts = collections.Counter(a["type"] for a in generate_corpus(50, seed=seed))
    assert all(counts[kind] >= 2 for kind in TYPES), counts


def test_tags_are_extractable_unique_and_bounded(corpus):
    for art in corpus:
        tags = art["tags"]
        assert 3 <= len(tags) <= 7
        assert len(set(tags)) == len(tags)
        for tag in tags:
            assert tag.lower() in art["content"].lower(), (tag, art["title"])
        assert tags[-1] in LOCATIONS and tags[0] in BRANDS  # canonical order: brand, model, topics, location
    vocabulary = {t for a in corpus for t in a["tags"]}
    assert 30 <= len(vocabulary) <= 80


def test_titles_and_urls_unique_at_5000():
    big = generate_corpus(5000, seed=3)
    assert len({a["title"] for a in big}) == 5000
    assert len({a["url"] for a in big}) == 5000
    for index, art in enumerate(big[:50]):
        prefix = f"https://synthetic.invalid/global/article/detail/T{index:07d}EN/"
        assert art["url"].startswith(prefix)
        assert re.fullmatch(r"[a-z0-9]+(-[a-z0-9]+)*", art["url"][len(prefix):])


def test_title_and_summary_lengths(corpus):
    title_words = [len(a["title"].split()) for a in corpus]
    assert all(5 <= n <= 20 for n in title_words)
    assert 9 <= sum(title_words) / len(title_words) <= 14
    for art in corpus:
        n = len(art["summary"].split())
        assert 20 <= n <= 55, art["summary"]
        assert 1 <= art["summary"].count(". ") + 1 <= 3 and art["summary"].endswith(".")


def test_about_a_third_of_summaries_are_verbatim(corpus):
    share = sum(a["summary"] in a["content"] for a in corpus) / len(corpus)
    assert 0.2 <= share <= 0.45


def test_content_lengths(corpus):
    for art in corpus:
        lo, hi = WORDS[art["type"]]
        assert lo <= len(art["content"].split()) <= hi, (art["type"], art["title"])


def test_plain_text(corpus):
    for art in corpus:
        for field in ("title", "summary", "content"):
            text = art[field]
            assert "  " not in text and "{" not in text and "<" not in text and "*" not in text
            assert all(line == line.strip() and line for line in text.split("\n\n")), "stray whitespace"
            assert all(line == line.strip() for line in text.split("\n")), "stray whitespace"
            for ch in text:
                assert ch.isascii() or ch in "€–" or unicodedata.category(ch).startswith("L"), repr(ch)


def test_structural_markers(corpus):
    for art in corpus:
        content, kind = art["content"], art["type"]
        paragraphs = content.split("\n\n")
        if kind == "Speech":
            assert "Check against delivery" in paragraphs[0]
            assert paragraphs[1].startswith(("Ladies and gentlemen,", "Dear "))
            assert content.endswith("Thank you.")
            assert "I am delighted" in content and re.search(r"\b[Ww]e\b", content)  # first person
        elif kind == "Fact & Figures":
            assert "Key figures at a glance." in paragraphs
            assert sum(": " in line for line in content.splitlines()) >= 5
        elif kind == "Press Kit":
            headings = [p for p in paragraphs if len(p.split()) <= 4 and p.endswith(".")]
            assert len(headings) >= 4
            assert " kW (" in content and " hp)" in content and " km" in content
        else:
            assert paragraphs[0].split(". ", 1)[0] in LOCATIONS  # dateline
            assert 3 <= len(paragraphs) <= 5
            assert '," said ' in content and " of the BMW Group." in content
        if kind != "Press Release":
            assert '," said ' not in content


BRANDS = ["BMW", "MINI", "Rolls-Royce", "BMW M", "BMW Motorrad"]
LOCATIONS = ["Munich", "Dingolfing", "Regensburg", "Leipzig", "Berlin", "Spartanburg", "San Luis Potosí",
             "Shenyang", "Debrecen", "Oxford", "Goodwood"]
