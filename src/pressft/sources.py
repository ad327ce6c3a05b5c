"""Where articles come from: the embedded synthetic corpus or a local JSONL file, in one schema."""

import hashlib
import json
from datetime import datetime
from pathlib import Path
from typing import Any

from pressft import ARTICLE_TYPES
from pressft.errors import UserError

REQUIRED = ("title", "date", "type", "summary", "tags", "url", "content")


def article_id(article: dict[str, Any]) -> str:
    """Stable id from the URL, so the same article keeps its id whatever the file order."""
    return hashlib.sha1(article["url"].encode("utf-8")).hexdigest()[:12]


def _filled(value: Any) -> bool:
    if isinstance(value, str):
        return bool(value.strip(" \t\r\n,"))
    if isinstance(value, list):
        return any(isinstance(item, str) and item.strip() for item in value)
    return value is not None


def normalise(raw: dict[str, Any]) -> dict[str, Any]:
    """One record in the project's schema (ISO date, tag list, id), or ValueError with the reason."""
    missing = [key for key in REQUIRED if not _filled(raw.get(key))]
    if missing:
        raise ValueError(f"missing or empty: {', '.join(missing)}")
    if raw["type"] not in ARTICLE_TYPES:
        raise ValueError(f"unknown type {raw['type']!r}")
    tags = raw["tags"]
    if isinstance(tags, str):
        tags = tags.split(",")
    tags = list(dict.fromkeys(tag.strip() for tag in tags if tag.strip()))
    date = str(raw["date"])
    for fmt in ("%d.%m.%Y", "%Y-%m-%d"):
        try:
            date = datetime.strptime(date, fmt).date().isoformat()
            break
        except ValueError:
            continue
    else:
        raise ValueError(f"unparseable date {date!r}")
    article = {key: str(raw[key]).strip() for key in ("title", "type", "summary", "url", "content")}
    article.update(date=date, tags=tags)
    article["id"] = article_id(article)
    return article


def read_jsonl(path: str | Path) -> list[dict[str, Any]]:
    """Raw records of a JSONL file; a line that is not a JSON object is kept as a reject, not fatal."""
    try:
        text = Path(path).read_text(encoding="utf-8-sig")
    except FileNotFoundError:
        raise UserError(f"data file {path} not found (param data.path)") from None
    except UnicodeDecodeError as error:
        raise UserError(f"data file {path} is not UTF-8 text ({error.reason} at byte {error.start})") from None
    records = []
    # Only \n ends a record: str.splitlines would also split at U+2028 and friends inside JSON strings.
    for number, line in enumerate(text.split("\n"), start=1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError as error:
            record = {"_error": f"line {number}: not JSON ({error.msg})"}
        if not isinstance(record, dict):
            record = {"_error": f"line {number}: not a JSON object"}
        records.append(record)
    return records


def load_articles(data: dict[str, Any]) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """(articles, rejects) for the `data` param group. Rejects carry their reason; duplicates by id are rejects too."""
    if data["source"] == "embedded":
        from pressft.synthetic import generate_corpus

        raw_records = generate_corpus(data["n_articles"], data["seed"])
    else:
        raw_records = read_jsonl(data["path"])
    articles, rejects, seen = [], [], set()
    for raw in raw_records:
        try:
            if "_error" in raw:
                raise ValueError(raw["_error"])
            article = normalise(raw)
            if article["id"] in seen:
                raise ValueError(f"duplicate url {article['url']}")
        except ValueError as reason:
            rejects.append({"reason": str(reason), "record": {k: raw.get(k) for k in ("title", "url")}})
            continue
        seen.add(article["id"])
        articles.append(article)
    if not articles:
        raise UserError(f"no valid articles in the {data['source']} source ({len(rejects)} rejected)")
    return articles, rejects


def write_jsonl(records: list[dict[str, Any]], path: str | Path) -> None:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", encoding="utf-8") as out:
        for record in records:
            out.write(json.dumps(record, ensure_ascii=False) + "\n")


def read_records(path: str | Path) -> list[dict[str, Any]]:
    """Records of a JSONL file the pipeline itself wrote."""
    with Path(path).open(encoding="utf-8") as lines:
        return [json.loads(line) for line in lines if line.strip()]
