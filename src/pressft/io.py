"""Reading and writing the pipeline's files, one way each: JSON (indented, one trailing newline), JSONL (one record
a line), all UTF-8, and tables of numbers read back. The bytes written depend on the data only, so an unchanged output
hashes the same and DVC sees it as unchanged."""

import csv
import hashlib
import json
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from pressft.errors import UserError

Records = list[dict[str, Any]]


def sha256(path: str | Path) -> str:
    """Hex digest of a file, read in 1 MiB blocks (model weights do not fit a single read comfortably)."""
    digest = hashlib.sha256()
    with Path(path).open("rb") as data:
        for block in iter(lambda: data.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _missing(path: str | Path) -> UserError:
    return UserError(f"{path} does not exist; run the stage that writes it first (dvc repro)")


def read_json(path: str | Path) -> Any:
    try:
        return json.loads(Path(path).read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise _missing(path) from None


def write_json(data: Any, path: str | Path, *, ensure_ascii: bool = True, sort_keys: bool = False) -> None:
    """Indented by 2 with a trailing newline; ensure_ascii as in json.dumps (each file keeps the form it has had)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    text = json.dumps(data, indent=2, ensure_ascii=ensure_ascii, sort_keys=sort_keys) + "\n"
    path.write_text(text, encoding="utf-8")


def jsonl_line(record: dict[str, Any]) -> str:
    """One JSONL line: the record with its text as it is (not \\u-escaped) and the newline."""
    return json.dumps(record, ensure_ascii=False) + "\n"


def parse_jsonl(lines: Iterable[str]) -> Records:
    """The records of JSONL lines; blank lines are skipped."""
    return [json.loads(line) for line in lines if line.strip()]


def read_jsonl(path: str | Path) -> Records:
    """The records of a JSONL file the pipeline wrote (files from users go through pressft.data.sources)."""
    try:
        with Path(path).open(encoding="utf-8") as lines:
            return parse_jsonl(lines)
    except FileNotFoundError:
        raise _missing(path) from None


def write_jsonl(records: Iterable[dict[str, Any]], path: str | Path) -> None:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", encoding="utf-8") as out:
        out.writelines(map(jsonl_line, records))


def parse_tsv(lines: Iterable[str]) -> list[dict[str, float]]:
    """The rows of a tab-separated table of numbers with a header (as dvclive writes its series); an empty cell is left
    out."""
    return [{key: float(value) for key, value in row.items() if value} for row in csv.DictReader(lines, delimiter="\t")]


def json_type(value: Any) -> str:
    """What a parsed JSON value is, in JSON's words ("array", not Python's "list"), for messages about bad input."""
    if value is None:
        return "null"
    names = {bool: "boolean", dict: "object", list: "array", str: "string", int: "number", float: "number"}
    return next((name for kind, name in names.items() if isinstance(value, kind)), type(value).__name__)
