"""The pipeline's file formats: the bytes DVC hashes must not change with a refactor, only with the data."""

import pytest

from pressft.errors import UserError
from pressft.io import parse_tsv, read_json, read_jsonl, write_json, write_jsonl


def test_write_then_read_records_round_trip(tmp_path, normalised_articles):
    records = normalised_articles(5)
    records[0]["title"] = "Nürburgring: BMW M4 GT3 EVO wins – again"
    records[1]["content"] = "First paragraph.\u2028Second paragraph.\x85Third."
    path = tmp_path / "sub" / "out.jsonl"
    write_jsonl(records, path)  # creates the folder
    assert read_jsonl(path) == records
    assert len(path.read_bytes().split(b"\n")) == 6  # one line per record and a final newline


def test_jsonl_is_utf8_text_one_compact_record_a_line(tmp_path):
    path = tmp_path / "out.jsonl"
    write_jsonl([{"title": "Nürburgring", "n": 1}, {"tags": ["a", "b"]}], path)
    assert path.read_bytes() == '{"title": "Nürburgring", "n": 1}\n{"tags": ["a", "b"]}\n'.encode()
    path.write_text('{"a": 1}\n\n  \n{"a": 2}\n')  # blank lines (an editor's trailing newline) are no records
    assert read_jsonl(path) == [{"a": 1}, {"a": 2}]


def test_json_is_indented_with_a_trailing_newline_and_keeps_each_files_escaping(tmp_path):
    data = {"type": "Fact & Figures", "city": "München", "x": [1, 2.5]}
    write_json(data, tmp_path / "sub" / "escaped.json")
    assert (tmp_path / "sub" / "escaped.json").read_bytes() == (
        b'{\n  "type": "Fact & Figures",\n  "city": "M\\u00fcnchen",\n  "x": [\n    1,\n    2.5\n  ]\n}\n')
    write_json(data, tmp_path / "utf8.json", ensure_ascii=False)
    assert "München" in (tmp_path / "utf8.json").read_text(encoding="utf-8")
    write_json({"b": 1, "a": 2}, tmp_path / "sorted.json", sort_keys=True)
    assert (tmp_path / "sorted.json").read_text() == '{\n  "a": 2,\n  "b": 1\n}\n'
    assert read_json(tmp_path / "utf8.json") == read_json(tmp_path / "sub" / "escaped.json") == data


def test_tsv_of_numbers_with_gaps():
    lines = "step\tloss\tgrad_norm\r\n1\t2.5\t\r\n2\t2.25\t0.5\r\n".splitlines()
    assert parse_tsv(lines) == [{"step": 1.0, "loss": 2.5}, {"step": 2.0, "loss": 2.25, "grad_norm": 0.5}]
    assert parse_tsv(["step"]) == []


@pytest.mark.parametrize("read", [read_json, read_jsonl])
def test_a_missing_file_is_one_line_naming_it_and_the_fix(tmp_path, read):
    with pytest.raises(UserError, match=r"^\S*metrics/none does not exist; run the stage that writes it first"):
        read(tmp_path / "metrics" / "none")
