"""Where raw articles come from: the embedded synthetic corpus, a local JSON/JSONL file, a Hugging Face
dataset, or the BMW PressClub website. Each reader returns raw records in the PressClub schema, the
records it could not read (with reasons), and the provenance that goes into the fetch stage's output.
"""

import hashlib
import json
from datetime import date
from pathlib import Path
from typing import Any

from pressft.config import DataConfig, HuggingfaceConfig
from pressft.data.cleaning import Rejected, reject_record
from pressft.errors import UserError
from pressft.io import json_type, sha256

Records = list[dict[str, Any]]
_SNIFF_BYTES = 8192


def _open_checked(path: Path) -> None:
    """Fail in one line on what makes a file unreadable as a whole: missing, empty, binary."""
    if not path.is_file():
        raise UserError(f"data file {path} not found (param data.path)")
    with path.open("rb") as data:
        head = data.read(_SNIFF_BYTES)
    if not head.strip():
        raise UserError(f"data file {path} is empty")
    if b"\x00" in head:
        raise UserError(f"data file {path} is binary, not JSON or JSONL text")


def _jsonl_records(path: Path) -> tuple[Records, Records]:
    """Records of a JSONL file, line by line (a multi-MB line costs only itself); bad lines are rejects."""
    records, rejects = [], []
    with path.open("rb") as lines:
        # Only \n ends a record: str.splitlines would also split at U+2028 and friends inside JSON strings.
        for number, raw_line in enumerate(lines, start=1):
            where = f"line {number}"
            if number == 1:
                raw_line = raw_line.removeprefix(b"\xef\xbb\xbf")
            if not raw_line.strip():
                continue
            try:
                record = json.loads(raw_line.decode("utf-8"))
            except UnicodeDecodeError as error:
                rejects.append(reject_record({}, Rejected("not UTF-8", f"invalid byte at position {error.start}"), where))
                continue
            except json.JSONDecodeError as error:
                rejects.append(reject_record({}, Rejected("not JSON", f"{error.msg} at column {error.colno}"), where))
                continue
            if not isinstance(record, dict):
                rejects.append(reject_record({}, Rejected("not an object", f"a JSON {json_type(record)}"), where))
                continue
            records.append(record | {"_where": where})
    if not records and rejects:
        first = rejects[0]
        raise UserError(
            f"data file {path} cannot be read: no line is a JSON article "
            f"({first['reason']} at {first['record']['where']}); expected UTF-8 JSONL, one article per line"
        )
    return records, rejects


def _json_records(path: Path) -> tuple[Records, Records]:
    """Records of a JSON document: a list of articles, or an object with an `articles` list."""
    try:
        document = json.loads(path.read_bytes().decode("utf-8-sig"))
    except UnicodeDecodeError as error:
        raise UserError(f"data file {path} is not UTF-8 text (invalid byte at position {error.start})") from None
    except json.JSONDecodeError as error:
        raise UserError(f"data file {path} is not valid JSON ({error.msg} at line {error.lineno})") from None
    if isinstance(document, dict) and isinstance(document.get("articles"), list):
        document = document["articles"]
    if not isinstance(document, list):
        raise UserError(
            f"data file {path} holds a JSON {json_type(document)}; expected a list of articles "
            'or an object {"articles": [...]}'
        )
    records, rejects = [], []
    for number, record in enumerate(document, start=1):
        where = f"item {number}"
        if isinstance(record, dict):
            records.append(record | {"_where": where})
        else:
            rejects.append(reject_record({}, Rejected("not an object", f"a JSON {json_type(record)}"), where))
    if not records and rejects:
        raise UserError(f"data file {path} holds no article objects (item 1 is {rejects[0]['detail']})")
    return records, rejects


def read_file(path: str | Path) -> tuple[Records, Records, dict[str, Any]]:
    """A local export: `.json` is one document, anything else is read as JSONL."""
    path = Path(path)
    _open_checked(path)
    records, rejects = (_json_records if path.suffix.lower() == ".json" else _jsonl_records)(path)
    return records, rejects, {"path": str(path), "sha256": sha256(path), "bytes": path.stat().st_size}


def _plain(data_files: str | tuple[str, ...]) -> str | list[str]:
    """A list of globs as datasets takes it and the provenance records it (JSON has no tuples)."""
    return data_files if isinstance(data_files, str) else list(data_files)


def read_huggingface(settings: HuggingfaceConfig) -> tuple[Records, Records, dict[str, Any]]:
    """A dataset on the Hugging Face Hub (or a local dataset directory) through `datasets.load_dataset`."""
    from datasets import load_dataset

    name, revision = settings.dataset, settings.revision
    try:
        dataset = load_dataset(name, revision=revision, data_files=_plain(settings.data_files), split=settings.split)
    except Exception as error:  # noqa: BLE001 - datasets raises many types for a bad id, revision or file set
        # The useful part is at the bottom of the chain ("column names don't match", "OfflineModeIsEnabled").
        while error.__cause__ is not None:
            error = error.__cause__
        first = " ".join(str(error).split())[:300] or type(error).__name__
        if "Cast" in type(error).__name__:
            first = "the files have different columns; select the article files with data.huggingface.data_files"
        raise UserError(
            f"cannot load dataset {name!r} at revision {revision!r} (files {_plain(settings.data_files)!r}): "
            f"{type(error).__name__}: {first}"
        ) from None
    # pyarrow reads an ISO date string as a timestamp; as text again, it is the date the cleaning reads.
    records = [{key: value.isoformat() if isinstance(value, date) else value for key, value in record.items()}
               | {"_where": f"row {number}"} for number, record in enumerate(dataset.to_list(), start=1)]
    # The content hash makes an upstream change visible in the stage's output even when the revision is a branch.
    digest = hashlib.sha256(json.dumps(records, sort_keys=True, default=str).encode("utf-8")).hexdigest()
    provenance = {"dataset": name, "revision": revision, "data_files": _plain(settings.data_files),
                  "split": settings.split, "rows": len(records), "sha256": digest}
    return records, [], provenance


def read_source(data: DataConfig, cache_dir: str | Path) -> tuple[Records, Records, dict[str, Any]]:
    """(raw records, unreadable records, provenance) for the `data` param group."""
    source = data.source
    if source == "embedded":
        from pressft.data.synthetic import generate_corpus

        records = generate_corpus(data.n_articles, data.seed)
        return records, [], {"generator": "pressft.data.synthetic", "n_articles": data.n_articles, "seed": data.seed}
    if source == "file":
        return read_file(data.path)
    if source == "huggingface":
        return read_huggingface(data.huggingface)
    from pressft.data.pressclub import scrape

    records, failures, info = scrape(data.pressclub, Path(cache_dir))
    for failure in failures:
        failure["reason"], failure["detail"] = "fetch failed", failure["reason"]
    return records, failures, info

