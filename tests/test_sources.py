"""Article sources: normalisation to one schema, JSONL reading with rejects, and the real PressClub sample."""

import json
import re

import pytest

from pressft import ARTICLE_TYPES
from pressft.errors import UserError
from pressft.sources import article_id, load_articles, normalise, read_jsonl, read_records, write_jsonl

ISO = re.compile(r"^\d{4}-\d{2}-\d{2}$")


def jsonl(path, lines: list) -> str:
    """Write raw lines (dicts are JSON-encoded, strings written as they are); returns the path as str."""
    with open(path, "w", encoding="utf-8") as out:
        for line in lines:
            out.write((json.dumps(line, ensure_ascii=False) if isinstance(line, dict) else line) + "\n")
    return str(path)


def load(path) -> tuple[list, list]:
    return load_articles({"source": "jsonl", "path": str(path)})


# ------------------------------------------------------------------ normalise


def test_normalise_converts_german_date_to_iso(articles):
    raw = articles(1)[0] | {"date": "30.12.2025"}
    assert normalise(raw)["date"] == "2025-12-30"


def test_normalise_keeps_iso_date(articles):
    raw = articles(1)[0] | {"date": "2024-02-29"}
    assert normalise(raw)["date"] == "2024-02-29"


@pytest.mark.parametrize("date", ["31.02.2024", "2024/01/05", "12-30-2025", "yesterday"])
def test_normalise_rejects_bad_dates(articles, date):
    with pytest.raises(ValueError, match="unparseable date"):
        normalise(articles(1)[0] | {"date": date})


def test_normalise_splits_dedups_and_trims_string_tags(articles):
    raw = articles(1)[0] | {"tags": "a, b,a"}
    assert normalise(raw)["tags"] == ["a", "b"]


def test_normalise_dedups_and_trims_list_tags_keeping_order(articles):
    raw = articles(1)[0] | {"tags": [" Design ", "BMW M", "Design", "", "  "]}
    assert normalise(raw)["tags"] == ["Design", "BMW M"]


@pytest.mark.parametrize("field", ["title", "date", "type", "summary", "tags", "url", "content"])
def test_normalise_names_a_missing_field(articles, field):
    raw = articles(1)[0]
    del raw[field]
    with pytest.raises(ValueError, match=f"missing or empty: {field}$"):
        normalise(raw)


def test_normalise_names_all_empty_fields(articles):
    raw = articles(1)[0] | {"summary": "", "tags": []}
    with pytest.raises(ValueError, match="missing or empty: summary, tags"):
        normalise(raw)


@pytest.mark.parametrize("field,value", [("tags", " , "), ("tags", ["  "]), ("title", "   "), ("content", "\n")])
def test_normalise_rejects_fields_empty_after_trimming(articles, field, value):
    with pytest.raises(ValueError, match=field):
        normalise(articles(1)[0] | {field: value})


def test_normalise_rejects_unknown_type(articles):
    with pytest.raises(ValueError, match="unknown type 'Interview'"):
        normalise(articles(1)[0] | {"type": "Interview"})


def test_normalise_output_schema(articles):
    raw = articles(1)[0] | {"title": "  Padded title  "}
    article = normalise(raw)
    assert set(article) == {"title", "date", "type", "summary", "tags", "url", "content", "id"}
    assert article["title"] == "Padded title"
    assert article["type"] in ARTICLE_TYPES
    assert raw["title"] == "  Padded title  "  # the input is not mutated


def test_id_is_stable_and_depends_only_on_url(articles):
    a, b = articles(2)
    first = normalise(a)["id"]
    assert normalise(dict(reversed(list(a.items()))))["id"] == first  # key order irrelevant
    assert normalise(a | {"title": "Other title", "date": "2020-01-01"})["id"] == first
    assert normalise(b)["id"] != first
    assert re.fullmatch(r"[0-9a-f]{12}", first)
    # sha1 of the url, first 12 hex digits: a fixed value, so ids survive re-runs and machines.
    assert article_id({"url": "https://example.com/a"}) == "c4ed1c218d14"
    assert normalise(a | {"url": f"  {a['url']} "})["id"] == first  # the url is trimmed before hashing


# ------------------------------------------------------------------ read_jsonl / load_articles


def test_jsonl_bad_lines_become_rejects_with_reasons(tmp_path, articles):
    good = articles(3)
    path = jsonl(tmp_path / "a.jsonl", [good[0], '{"title": "broken', good[1], "[1, 2, 3]", "", good[2], '"text"'])
    kept, rejects = load(path)
    assert [a["url"] for a in kept] == [g["url"] for g in good]  # file order kept
    reasons = [r["reason"] for r in rejects]
    assert len(rejects) == 3
    assert reasons[0].startswith("line 2: not JSON")
    assert reasons[1] == "line 4: not a JSON object"
    assert reasons[2] == "line 7: not a JSON object"  # blank line 5 still counts for line numbers
    assert all(set(r["record"]) == {"title", "url"} for r in rejects)


def test_invalid_records_are_rejects_with_reasons(tmp_path, articles):
    good = articles(3)
    bad_type = good[1] | {"type": "Blog", "url": "https://x/blog"}
    no_tags = {k: v for k, v in good[2].items() if k != "tags"} | {"url": "https://x/notags"}
    path = jsonl(tmp_path / "a.jsonl", [good[0], bad_type, no_tags, good[2]])
    kept, rejects = load(path)
    assert [a["url"] for a in kept] == [good[0]["url"], good[2]["url"]]
    assert rejects == [
        {"reason": "unknown type 'Blog'", "record": {"title": bad_type["title"], "url": "https://x/blog"}},
        {"reason": "missing or empty: tags", "record": {"title": no_tags["title"], "url": "https://x/notags"}},
    ]


def test_duplicate_url_is_rejected_first_one_kept(tmp_path, articles):
    a, b = articles(2)
    duplicate = b | {"url": a["url"], "title": "Same url, other title"}
    kept, rejects = load(jsonl(tmp_path / "a.jsonl", [a, b, duplicate]))
    assert [x["title"] for x in kept] == [a["title"], b["title"]]
    assert len(rejects) == 1
    assert rejects[0]["reason"] == f"duplicate url {a['url']}"
    assert rejects[0]["record"]["title"] == "Same url, other title"


def test_bom_and_crlf_are_handled(tmp_path, articles):
    good = articles(2)
    path = tmp_path / "bom.jsonl"
    path.write_bytes(b"\xef\xbb\xbf" + "\r\n".join(json.dumps(g) for g in good).encode("utf-8") + b"\r\n")
    kept, rejects = load(path)
    assert rejects == []
    assert [a["url"] for a in kept] == [g["url"] for g in good]


def test_non_ascii_text_survives(tmp_path, articles):
    raw = articles(1)[0] | {"title": "Nürburgring: BMW M4 GT3 EVO wins – again"}
    kept, _ = load(jsonl(tmp_path / "a.jsonl", [raw]))
    assert kept[0]["title"] == "Nürburgring: BMW M4 GT3 EVO wins – again"


@pytest.mark.parametrize("separator", ["\u2028", "\u2029", "\x85"])
def test_unicode_line_separator_inside_a_string_is_not_a_line_break(tmp_path, articles, separator):
    raw = articles(1)[0] | {"content": f"First paragraph.{separator}Second paragraph."}
    path = tmp_path / "a.jsonl"
    write_jsonl([raw], path)
    assert len(read_records(path)) == 1  # the pipeline's own reader copes
    kept, rejects = load(path)
    assert rejects == []
    assert kept[0]["content"] == raw["content"]


def test_missing_file_is_a_user_error(tmp_path):
    with pytest.raises(UserError, match=r"data file .*nope\.jsonl not found \(param data\.path\)") as info:
        read_jsonl(tmp_path / "nope.jsonl")
    assert "\n" not in str(info.value)


def test_non_utf8_file_is_a_user_error(tmp_path, articles):
    path = tmp_path / "latin1.jsonl"
    path.write_bytes(json.dumps(articles(1)[0] | {"title": "Nürburgring"}, ensure_ascii=False).encode("latin-1"))
    with pytest.raises(UserError, match="not UTF-8") as info:
        load(path)
    assert "\n" not in str(info.value)
    assert str(path) in str(info.value)


@pytest.mark.parametrize("lines", [["not json", "[]", '{"title": "no other fields"}'], [], ["", "  "]])
def test_file_without_valid_articles_is_a_user_error(tmp_path, lines):
    path = jsonl(tmp_path / "bad.jsonl", lines)
    with pytest.raises(UserError) as info:
        load(path)
    message = str(info.value)
    assert "\n" not in message
    assert message == f"no valid articles in the jsonl source ({len([x for x in lines if x.strip()])} rejected)"


def test_write_then_read_records_round_trip(tmp_path, normalised_articles):
    records = normalised_articles(5)
    write_jsonl(records, tmp_path / "sub" / "out.jsonl")  # creates the folder
    assert read_records(tmp_path / "sub" / "out.jsonl") == records


# ------------------------------------------------------------------ the real PressClub sample


def test_real_pressclub_sample(real_articles_path):
    kept, rejects = load_articles({"source": "jsonl", "path": str(real_articles_path)})
    n_lines = sum(1 for line in real_articles_path.read_text(encoding="utf-8").splitlines() if line.strip())
    assert len(kept) + len(rejects) == n_lines
    assert 90 <= len(kept) <= n_lines
    assert len(kept) == 96  # as of the committed sample: 4 records lack a summary or tags
    for reject in rejects:
        assert reject["reason"].startswith("missing or empty:") or reject["reason"]
        assert reject["record"]["url"]
    assert len({a["id"] for a in kept}) == len(kept)
    for article in kept:
        assert ISO.match(article["date"]), article["date"]
        assert article["tags"] and all(tag and tag == tag.strip() for tag in article["tags"])
        assert article["type"] in ARTICLE_TYPES
        assert article["title"] and article["summary"] and article["content"]
    assert sum(a["type"] == "Press Release" for a in kept) > len(kept) / 2  # imbalanced, as the study says
