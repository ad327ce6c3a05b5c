"""Article sources: local JSON/JSONL files with rejects, a local Hugging Face dataset, the embedded corpus,
the pipeline's own JSONL, and the real PressClub sample."""

import hashlib
import json
import re
from collections import Counter
from dataclasses import replace
from pathlib import Path

import pytest

from pressft.tasks import ARTICLE_TYPES
from pressft.config import DataConfig, HuggingfaceConfig, load_config
from pressft.data.cleaning import clean_corpus
from pressft.errors import UserError
from pressft.data.sources import read_file, read_huggingface, read_source

ISO = re.compile(r"^\d{4}-\d{2}-\d{2}$")
EMAIL = re.compile(r"[\w.+-]+@[\w-]+\.[\w.-]+")

PARAMS_FILE = Path(__file__).resolve().parents[1] / "params.yaml"


def write_lines(path, lines: list, end: bytes = b"\n"):
    """Raw lines: dicts JSON-encoded (UTF-8, not ASCII-escaped), str encoded as UTF-8, bytes as they are."""
    encoded = [
        json.dumps(line, ensure_ascii=False).encode() if isinstance(line, dict)
        else line.encode() if isinstance(line, str) else line
        for line in lines
    ]
    path.write_bytes(b"".join(line + end for line in encoded))
    return path


def where(records: list) -> list:
    return [record["_where"] for record in records]


def strip_where(records: list) -> list:
    return [{key: value for key, value in record.items() if key != "_where"} for record in records]


def user_error(path) -> str:
    with pytest.raises(UserError) as info:
        read_file(path)
    message = str(info.value)
    assert "\n" not in message
    assert str(path) in message
    return message


# ------------------------------------------------------------------ read_file: JSONL


def test_jsonl_records_keep_their_line(tmp_path, articles):
    good = articles(2)
    records, rejects, _ = read_file(write_lines(tmp_path / "a.jsonl", good))
    assert records == [good[0] | {"_where": "line 1"}, good[1] | {"_where": "line 2"}]
    assert rejects == []


def test_jsonl_malformed_lines_become_rejects(tmp_path, articles):
    good = articles(3)
    path = write_lines(tmp_path / "a.jsonl", [
        good[0], b'{"title": "broken', b"[1, 2]", b"", good[1], b'{"title": "M\xfcnchen"}', b'"text"', good[2],
    ])
    records, rejects, _ = read_file(path)
    assert where(records) == ["line 1", "line 5", "line 8"]  # the blank line 4 still counts
    assert strip_where(records) == good
    assert [(r["reason"], r["record"]["where"]) for r in rejects] == [
        ("not JSON", "line 2"),
        ("not an object", "line 3"),
        ("not UTF-8", "line 6"),
        ("not an object", "line 7"),
    ]
    assert [r["detail"] for r in rejects[1:]] == ["a JSON array", "invalid byte at position 12", "a JSON string"]


def test_jsonl_bom_and_crlf(tmp_path, articles):
    good = articles(2)
    path = tmp_path / "bom.jsonl"
    path.write_bytes(b"\xef\xbb\xbf" + b"".join(json.dumps(g).encode() + b"\r\n" for g in good))
    records, rejects, _ = read_file(path)
    assert rejects == []
    assert strip_where(records) == good


@pytest.mark.parametrize("separator", ["\u2028", "\u2029", "\x85"])
def test_unicode_line_separator_inside_a_string_is_not_a_line_break(tmp_path, articles, separator):
    raw = articles(1)[0] | {"content": f"First paragraph.{separator}Second paragraph."}
    path = write_lines(tmp_path / "a.jsonl", [raw])
    assert separator.encode() in path.read_bytes()  # written raw, not as a \u escape
    records, rejects, _ = read_file(path)
    assert rejects == []
    assert strip_where(records) == [raw]


def test_non_ascii_text_survives_reading_and_cleaning(tmp_path, articles):
    title = "Nürburgring: BMW M4 GT3 EVO wins – again"
    records, _, _ = read_file(write_lines(tmp_path / "a.jsonl", [articles(1)[0] | {"title": title}]))
    kept, rejects, _ = clean_corpus(records, min_content_words=20, max_chars=200_000)
    assert rejects == []
    assert kept[0]["title"] == title


def test_huge_record_is_read_then_rejected_as_too_long(tmp_path, articles):
    small, big = articles(2)
    big["content"] = "word " * 1_000_000  # 5 MB on one line
    records, rejects, _ = read_file(write_lines(tmp_path / "big.jsonl", [small, big]))
    assert rejects == []
    assert len(records[1]["content"]) == 5_000_000
    kept, rejects, _ = clean_corpus(records, min_content_words=20, max_chars=200_000)
    assert [a["url"] for a in kept] == [small["url"]]
    assert rejects == [{
        "reason": "too long",
        "detail": "content has 5,000,000 characters (limit data.max_chars=200,000)",
        "record": {"title": big["title"], "url": big["url"], "where": "line 2"},
    }]


# ------------------------------------------------------------------ read_file: whole-file failures


def test_missing_file_is_a_user_error(tmp_path):
    path = tmp_path / "nope.jsonl"
    assert user_error(path) == f"data file {path} not found (param data.path)"


@pytest.mark.parametrize("name,data", [("empty.jsonl", b""), ("blank.jsonl", b"  \n\n \r\n"), ("empty.json", b"\n")])
def test_empty_file_is_a_user_error(tmp_path, name, data):
    path = tmp_path / name
    path.write_bytes(data)
    assert user_error(path) == f"data file {path} is empty"


@pytest.mark.parametrize("name", ["data.jsonl", "data.json"])
def test_binary_file_is_a_user_error(tmp_path, name):
    path = tmp_path / name
    path.write_bytes(b"PK\x03\x04\x00\x00binary zip header")
    assert user_error(path) == f"data file {path} is binary, not JSON or JSONL text"


def test_latin1_jsonl_is_a_user_error(tmp_path, articles):
    path = tmp_path / "latin1.jsonl"
    path.write_bytes(json.dumps(articles(1)[0] | {"title": "Nürburgring"}, ensure_ascii=False).encode("latin-1"))
    assert user_error(path) == (
        f"data file {path} cannot be read: no line is a JSON article (not UTF-8 at line 1); "
        "expected UTF-8 JSONL, one article per line"
    )


def test_jsonl_with_only_garbage_is_a_user_error(tmp_path):
    path = write_lines(tmp_path / "garbage.jsonl", [b"", b"title,date,url", b"{broken"])
    assert user_error(path) == (
        f"data file {path} cannot be read: no line is a JSON article (not JSON at line 2); "
        "expected UTF-8 JSONL, one article per line"
    )


def test_invalid_json_document_is_a_user_error(tmp_path):
    path = tmp_path / "bad.json"
    path.write_bytes(b'[\n  {"title": "x"}\n  {"title": "y"}\n]')
    assert user_error(path) == f"data file {path} is not valid JSON (Expecting ',' delimiter at line 3)"


@pytest.mark.parametrize(
    "document,kind",
    [({"source": "pressclub", "count": 0}, "object"), ({"articles": {"a": 1}}, "object"), (42, "number"),
     ("text", "string")],
)
def test_json_without_an_articles_list_is_a_user_error(tmp_path, document, kind):
    path = tmp_path / "summary.json"
    path.write_text(json.dumps(document))
    assert user_error(path) == (
        f'data file {path} holds a JSON {kind}; expected a list of articles or an object {{"articles": [...]}}'
    )


def test_json_with_invalid_utf8_is_a_user_error(tmp_path):
    path = tmp_path / "latin1.json"
    path.write_bytes('[{"title": "Nürburgring"}]'.encode("latin-1"))
    assert user_error(path) == f"data file {path} is not UTF-8 text (invalid byte at position 13)"


# ------------------------------------------------------------------ read_file: JSON


def test_json_list_of_articles(tmp_path, articles):
    good = articles(3)
    path = tmp_path / "a.json"
    path.write_bytes(b"\xef\xbb\xbf" + json.dumps(good, indent=2).encode())
    records, rejects, _ = read_file(path)
    assert rejects == []
    assert where(records) == ["item 1", "item 2", "item 3"]
    assert strip_where(records) == good


def test_json_object_with_articles_and_a_non_object_item(tmp_path, articles):
    good = articles(2)
    path = tmp_path / "export.json"
    path.write_text(json.dumps({"articles": [good[0], "not an article", good[1]], "source": "pressclub", "count": 3}))
    records, rejects, _ = read_file(path)
    assert where(records) == ["item 1", "item 3"]
    assert strip_where(records) == good
    assert rejects == [{
        "reason": "not an object",
        "detail": "a JSON string",
        "record": {"title": None, "url": None, "where": "item 2"},
    }]


@pytest.mark.parametrize("name", ["a.json", "a.jsonl"])
def test_file_provenance(tmp_path, articles, name):
    path = tmp_path / name
    data = (json.dumps(articles(2)) if name.endswith(".json") else json.dumps(articles(1)[0]) + "\n").encode()
    path.write_bytes(data)
    _, _, provenance = read_file(path)
    assert provenance == {"path": str(path), "sha256": hashlib.sha256(data).hexdigest(), "bytes": len(data)}


# ------------------------------------------------------------------ Hugging Face (local dataset directory, offline)


@pytest.fixture
def hf_cache(tmp_path, monkeypatch):
    """Keep the arrow cache of local datasets inside the test's folder."""
    import datasets.config

    monkeypatch.setattr(datasets.config, "HF_DATASETS_CACHE", tmp_path / "hf-cache")


@pytest.fixture
def hf_dir(tmp_path, articles, hf_cache):
    """A dataset directory shaped like the hub repo: JSONL articles next to a JSON scrape summary."""
    folder = tmp_path / "bmw-articles"
    folder.mkdir()
    write_lines(folder / "articles-2025.jsonl", articles(3))
    summary = {"articles": [], "source": "x", "count": 0, "scraped_at": "2025-12-30T12:00:00"}
    (folder / "scrape-summary.json").write_text(json.dumps(summary))
    return folder


def hf_data(folder, data_files: str) -> DataConfig:
    settings = HuggingfaceConfig(dataset=str(folder), revision="main", data_files=data_files, split="train")
    return replace(load_config("data", path=PARAMS_FILE).data, source="huggingface", huggingface=settings)


def test_huggingface_local_directory_jsonl_files(hf_dir, articles, tmp_path):
    records, rejects, provenance = read_source(hf_data(hf_dir, "*.jsonl"), tmp_path / "cache")
    assert rejects == []
    assert records == [raw | {"_where": f"row {n}"} for n, raw in enumerate(articles(3), start=1)]
    assert all(isinstance(record["tags"], list) for record in records)
    assert provenance == {
        "dataset": str(hf_dir), "revision": "main", "data_files": "*.jsonl", "split": "train",
        "rows": 3, "sha256": provenance["sha256"],
    }
    assert re.fullmatch(r"[0-9a-f]{64}", provenance["sha256"])


def test_huggingface_iso_dates_are_read_as_dates(tmp_path, articles, hf_cache):
    # pyarrow turns ISO date strings into timestamps; the articles must still be kept, on their dates
    folder = tmp_path / "iso-dates"
    folder.mkdir()
    dates = ["2025-10-15", "2025-10-16T10:00:00"]
    write_lines(folder / "articles.jsonl", [raw | {"date": day} for raw, day in zip(articles(2), dates)])
    records, _, _ = read_source(hf_data(folder, "*.jsonl"), tmp_path / "cache")
    kept, rejects, _ = clean_corpus(records, 5, 10**6)
    assert rejects == [] and [article["date"] for article in kept] == ["2025-10-15", "2025-10-16"]


def test_huggingface_sha256_follows_the_content(tmp_path, articles, hf_cache):
    digests = []
    for n, title in enumerate(["First version", "Second version"]):
        folder = tmp_path / f"v{n}"
        folder.mkdir()
        write_lines(folder / "articles.jsonl", [articles(1)[0] | {"title": title}])
        digests.append(read_huggingface(hf_data(folder, "*.jsonl").huggingface)[2]["sha256"])
    assert digests[0] != digests[1]


def test_huggingface_files_of_different_shapes_are_a_user_error(hf_dir):
    with pytest.raises(UserError) as info:
        read_huggingface(hf_data(hf_dir, "*").huggingface)
    message = str(info.value)
    assert "\n" not in message
    assert message.startswith(f"cannot load dataset {str(hf_dir)!r} at revision 'main' (files '*'): ")
    assert message.endswith(
        "the files have different columns; select the article files with data.huggingface.data_files"
    )


def test_huggingface_uncached_hub_id_offline_is_a_user_error(tmp_path, hf_cache):
    with pytest.raises(UserError) as info:
        read_source(hf_data("pressft-tests/no-such-dataset", "*.jsonl"), tmp_path / "cache")
    message = str(info.value)
    assert "\n" not in message
    assert message.startswith(
        "cannot load dataset 'pressft-tests/no-such-dataset' at revision 'main' (files '*.jsonl'): "
    )
    assert "offline" in message.lower()


# ------------------------------------------------------------------ read_source


def test_read_source_embedded(tmp_path, config):
    data = replace(config.data, source="embedded", n_articles=30, seed=7)
    records, rejects, provenance = read_source(data, tmp_path)
    assert len(records) == 30
    assert rejects == []
    assert provenance == {"generator": "pressft.data.synthetic", "n_articles": 30, "seed": 7}
    assert all(set(record) == {"title", "date", "type", "summary", "tags", "url", "content"} for record in records)
    assert read_source(data, tmp_path)[0] == records  # deterministic
    kept, rejected, _ = clean_corpus(records, min_content_words=20, max_chars=200_000)
    assert (len(kept), rejected) == (30, [])


def test_read_source_file(tmp_path, articles, config):
    path = write_lines(tmp_path / "a.jsonl", articles(2))
    assert read_source(replace(config.data, source="file", path=str(path)), tmp_path / "cache") == read_file(path)


# ------------------------------------------------------------------ the real PressClub sample


def test_real_pressclub_sample(real_articles_path):
    records, unreadable, provenance = read_file(real_articles_path)
    assert (len(records), unreadable) == (100, [])
    assert provenance["bytes"] == real_articles_path.stat().st_size
    kept, rejects, _ = clean_corpus(records, min_content_words=20, max_chars=200_000)
    # 2 articles without a summary and 3 without tags (4 articles) are kept for the tasks that do not need them.
    assert len(kept) == 97
    assert Counter(field for article in kept for field in ("summary", "tags") if field not in article) == {
        "summary": 2, "tags": 3}
    assert Counter(reject["reason"] for reject in rejects) == {"too short": 3}  # no duplicates
    assert len({article["id"] for article in kept}) == 97
    for article in kept:
        content = article["content"]
        for boilerplate in ("please contact", "With its four brands", "www.", "http"):
            assert boilerplate not in content, (article["id"], boilerplate)
        assert not EMAIL.search(content), (article["id"], EMAIL.search(content))
        assert ISO.match(article["date"]), article["date"]
        assert article["type"] in ARTICLE_TYPES
        assert all(tag == tag.strip() and tag for tag in article.get("tags", []))


@pytest.mark.parametrize(("name", "content"), [("a.jsonl", "[1]\n[2]\n"), ("a.json", "[1, 2]")])
def test_file_of_valid_json_but_no_objects_is_a_user_error(tmp_path, name, content):
    path = tmp_path / name
    path.write_text(content, encoding="utf-8")
    with pytest.raises(UserError) as info:
        read_file(path)
    assert "\n" not in str(info.value) and str(path) in str(info.value)
