"""Cleaning and validation of raw articles: markup and press boilerplate out, canonical labels, ISO dates.

Every record either comes out clean in the project's schema or is rejected with a reason category
and a detail; nothing is dropped without a trace. Duplicates (same URL, same normalised title and
date, same content) are rejected as well, the first occurrence wins. A record lacking a field that only
some tasks need (title, summary, tags: see pressft.tasks) is kept without it, and counted in the data report.
"""

import hashlib
import html
import re
import statistics
import unicodedata
from collections import Counter
from datetime import datetime
from typing import Any
from urllib.parse import urlsplit

from bs4 import BeautifulSoup

from pressft.io import json_type
from pressft.tasks import ARTICLE_TYPES, MANDATORY, OPTIONAL

TEXT_FIELDS = ("title", "summary", "content")
_ORDER = ("title", "type", "summary", "url", "content", "date", "tags", "id")  # the key order of a clean article


class Rejected(ValueError):
    """A record that cannot be used: `reason` is a category for counting, `detail` says exactly what."""

    def __init__(self, reason: str, detail: str = ""):
        super().__init__(f"{reason}: {detail}" if detail else reason)
        self.reason, self.detail = reason, detail


def article_id(url: str) -> str:
    """Stable id from the URL, so an article keeps its id whatever the order or source."""
    return hashlib.sha1(url.encode("utf-8")).hexdigest()[:12]


# ------------------------------------------------------------------ text


_BLOCK_END = re.compile(r"<br\s*/?>|</(p|div|li|h[1-6]|tr)\s*>", re.IGNORECASE)
_TAG = re.compile(r"</?[a-zA-Z][a-zA-Z0-9]*(\s[^<>]{0,500})?/?>")
_ENTITY = re.compile(r"&(#\d{1,7}|#x[0-9a-fA-F]{1,6}|[a-zA-Z]{2,10});")
_COMMENT = re.compile(r"<!--.*?-->", re.DOTALL)
# Zero-width characters, soft hyphens and BOMs carry no text but split words for the tokenizer.
_LINE_BREAK = re.compile("\r\n|[\r\x0b\x0c\x85\u2028\u2029]")
_INVISIBLE = dict.fromkeys(map(ord, "\u200b\u200c\u200d\u2060\ufeff\u00ad"))


def clean_text(text: str) -> str:
    """Plain text: HTML reduced to text, entities decoded, Unicode NFKC, whitespace normalised.

    Paragraphs (blank-line separated, or HTML block elements) survive as "\\n\\n"; single line breaks
    inside a paragraph are kept, runs of spaces and tabs collapse to one.
    """
    text = _COMMENT.sub("", text)  # a tracking pixel's comment is no text, with or without other markup
    if _TAG.search(text):
        text = _BLOCK_END.sub(lambda match: "\n" if match.group(0).lower().startswith("<br") else "\n\n", text)
        text = BeautifulSoup(text, "html.parser").get_text()
    else:
        # Only entities closed by ";": html.unescape would also read "Fish&notes" as "Fish¬es" (HTML's legacy rule).
        text = _ENTITY.sub(lambda entity: html.unescape(entity.group(0)), text)
    # NFKC folds no-break spaces, full-width letters and sub/superscripts (CO₂ -> CO2) to what the tokenizer expects.
    text = unicodedata.normalize("NFKC", text).translate(_INVISIBLE)
    # Every line-break convention becomes \n before control characters go, or words would be glued together.
    text = _LINE_BREAK.sub("\n", text)
    text = "".join(char for char in text if char in "\n\t" or unicodedata.category(char)[0] != "C")
    lines = (" ".join(line.split()) for line in text.split("\n"))
    paragraphs, current = [], []
    for line in lines:
        if line:
            current.append(line)
        elif current:
            paragraphs.append("\n".join(current))
            current = []
    if current:
        paragraphs.append("\n".join(current))
    return "\n\n".join(paragraphs)


# ------------------------------------------------------------------ press boilerplate

# The contact block closes a press release; everything after it is contacts, the company profile
# and legal consumption notes, never article text. Its heading comes in several wordings ("In the event of enquiries
# please contact:", "For media inquiries, please contact:") or is the press office's name alone on its line.
_CONTACT_REQUEST = (r"(in case of|in the event of|if you have|for) (any |further |more |media )?"
                    r"(queries|questions|enquiries|inquiries|information)")
_PRESS_OFFICE = r"(bmw group,? )?corporate communications\s*$"
_CONTACT_START = re.compile(
    rf"^({_CONTACT_REQUEST}[^\n]{{0,60}}\bcontact\b[^\n]{{0,40}}$|(press|media) contacts?\s*(:|$)|{_PRESS_OFFICE})",
    re.IGNORECASE | re.MULTILINE,  # the heading is the paragraph's first line; names and numbers may follow
)
# Some sources lose the break before the block: the heading then follows a sentence of the article's last paragraph,
# or the press office's name ends it.
_CONTACT_INLINE = re.compile(
    rf"(?<=[.!?\"”’])\s+({_CONTACT_REQUEST},? please contact:|{_PRESS_OFFICE})",
    re.IGNORECASE,
)
_COMPANY_PROFILE = re.compile(
    r"^(the bmw group|about the bmw group)\.?$"
    r"|with its four brands"
    r"|the bmw group is the world['’]s leading premium manufacturer"
    r"|the bmw group production network comprises"
    r"|the (economic )?success of the bmw group has always been based"
    r"|the bmw group sold [^\n]{0,100}\bmotorcycles worldwide\. the profit before tax",  # its yearly figures
    re.IGNORECASE,
)
_CONTACT_LINE = re.compile(
    r"^(tel(ephone)?|phone|mobile|fax|e-?mail|internet|media website|web(site)?|facebook|instagram|"
    r"youtube|linkedin|twitter|x)\s*[:.]",
    re.IGNORECASE,
)
# A URL never ends in sentence punctuation: "see www.bmw.com." keeps its full stop.
_URL = re.compile(r"\b(?:https?://|www\.)[^\s<>\"']*[^\s<>\"'.,;:!?)\]]", re.IGNORECASE)
_EMAIL = re.compile(r"\b[\w.+-]+@[\w-]+(\.[\w-]+)+\b")
_CUT = "\x00"  # marks where a link was; clean_text left no control character that it could be confused with


def strip_boilerplate(content: str) -> tuple[str, set[str]]:
    """Content without contact blocks, company profile, contact lines, URLs and e-mail addresses.

    Returns the text and the kinds of boilerplate found (for the data report).
    """
    found: set[str] = set()
    paragraphs = content.split("\n\n")
    for index, paragraph in enumerate(paragraphs):
        # A heading opening the first paragraph is the article's own sentence ("please contact your dealer").
        if index and _CONTACT_START.match(paragraph):
            paragraphs = paragraphs[:index]
            found.add("contact block")
            break
        if inline := _CONTACT_INLINE.search(paragraph):
            paragraphs = paragraphs[:index] + [paragraph[:inline.start()]]
            found.add("contact block")
            break
    kept = []
    for paragraph in paragraphs:
        if _COMPANY_PROFILE.search(paragraph):
            found.add("company profile")
            continue
        lines = [line for line in paragraph.split("\n") if not _CONTACT_LINE.match(line)]
        if len(lines) < paragraph.count("\n") + 1:
            found.add("contact lines")
        kept.append("\n".join(lines))
    text = "\n\n".join(paragraph for paragraph in kept if paragraph)
    marked = _EMAIL.sub(_CUT, _URL.sub(_CUT, text))
    if marked != text:
        found.add("urls and e-mails")
        # A line that held nothing but links goes, rather than leaving a blank line that splits its paragraph.
        lines = marked.split("\n")
        without_links = "\n".join(line for line in lines
                                  if _CUT not in line or line.replace(_CUT, "").strip()).replace(_CUT, "")
        # A removed link leaves "visit ." or a doubled space behind. The tidy runs over the whole text, so a source's
        # own "500 km ." is tidied too in an article that had a link; the committed real-article results were made so.
        without_links = re.sub(r"\(\s*\)|\[\s*\]", "", without_links)
        without_links = re.sub(r"[ \t]+([.,;:!?])", r"\1", re.sub(r"[ \t]{2,}", " ", without_links))
        text = "\n\n".join(p.strip() for p in without_links.split("\n\n") if p.strip(" \t\n:.,;-–"))
    return text, found


# ------------------------------------------------------------------ labels, tags, dates


def _fold(label: str) -> str:
    return re.sub(r"[^a-z]", "", label.casefold().replace("&", "and"))


# Spelling variants seen in exports map to the canonical names; anything else is rejected, never a new class.
_TYPE_ALIASES = {_fold(name): name for name in ARTICLE_TYPES} | {
    "factsandfigures": "Fact & Figures",
    "factsfigures": "Fact & Figures",
    "factandfigures": "Fact & Figures",
    "pressreleases": "Press Release",
    "presskits": "Press Kit",
    "speeches": "Speech",
}


def canonical_type(label: str) -> str:
    try:
        return _TYPE_ALIASES[_fold(label)]
    except KeyError:
        raise Rejected("unknown type", f"{label!r} (known: {', '.join(ARTICLE_TYPES)})") from None


def normalise_tags(tags: list[str] | str) -> list[str]:
    """Trimmed, whitespace-collapsed, de-duplicated case-insensitively; the first spelling is kept.

    A listed tag holding a comma ("Production, Recycling", a fifth of the real sample's articles) is split:
    the tags task answers a comma-separated list, so such a tag could never be predicted as one.
    """
    if isinstance(tags, str):
        tags = [tags]
    tags = [part for tag in tags for part in tag.split(",")]
    seen, kept = set(), []
    for tag in tags:
        tag = " ".join(clean_text(tag).split())
        if tag and tag.casefold() not in seen:
            seen.add(tag.casefold())
            kept.append(tag)
    return kept


def iso_date(value: str) -> str:
    """DD.MM.YYYY, YYYY-MM-DD or an ISO timestamp, as YYYY-MM-DD."""
    value = value.strip()
    for fmt in ("%d.%m.%Y", "%Y-%m-%d"):
        try:
            return datetime.strptime(value, fmt).date().isoformat()
        except ValueError:
            continue
    try:
        return datetime.fromisoformat(value.replace("Z", "+00:00")).date().isoformat()
    except ValueError:
        raise Rejected("bad date", f"{value[:40]!r} is not DD.MM.YYYY or ISO") from None


# ------------------------------------------------------------------ one record


def _empty(value: Any) -> bool:
    return value in (None, "", [])


def _check_fields(raw: dict[str, Any], max_chars: int) -> None:
    missing = [key for key in MANDATORY if _empty(raw.get(key))]
    if missing:
        raise Rejected("missing field", ", ".join(missing))
    for key in (key for key in (*MANDATORY, *OPTIONAL) if not _empty(raw.get(key))):
        value = raw[key]
        allowed = (list, str) if key == "tags" else (str,)
        if not isinstance(value, allowed) or (key == "tags" and isinstance(value, list)
                                              and not all(isinstance(tag, str) for tag in value)):
            expected = "a list of strings or a comma-separated string" if key == "tags" else "a string"
            got = f"a JSON {json_type(value)}"
            if isinstance(value, list) and key == "tags":
                got += f" with an item of type {json_type(next(tag for tag in value if not isinstance(tag, str)))}"
            raise Rejected("wrong type", f"{key} must be {expected}, got {got}")
    # Checked on the raw text, before any parsing, so a multi-MB record costs nothing more.
    for key in (key for key in TEXT_FIELDS if not _empty(raw.get(key))):
        if len(raw[key]) > max_chars:
            raise Rejected("too long", f"{key} has {len(raw[key]):,} characters (limit data.max_chars={max_chars:,})")


def clean_article(raw: dict[str, Any], min_content_words: int, max_chars: int) -> tuple[dict[str, Any], set[str]]:
    """One raw record as a clean article in the project's schema, and the boilerplate kinds stripped.

    An optional field (pressft.tasks.OPTIONAL) that is absent, or empty after cleaning, is left out of the article.
    Raises Rejected with the reason when the record cannot be used.
    """
    _check_fields(raw, max_chars)
    url = raw["url"].strip()
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise Rejected("bad url", f"{url[:80]!r} is not an absolute http(s) URL")
    article = {key: clean_text(raw[key]) for key in TEXT_FIELDS if not _empty(raw.get(key))}
    found: set[str] = set()
    if "title" in article:
        article["title"] = " ".join(article["title"].split())
    if "summary" in article:
        article["summary"], found = strip_boilerplate(article["summary"])
    article["content"], in_content = strip_boilerplate(article["content"])
    if not article["content"]:
        raise Rejected("missing field", "content is empty after cleaning")
    for key in list(article):
        leftover = _TAG.search(article[key]) or _ENTITY.search(article[key])
        if leftover:
            raise Rejected("markup left", f"{key} still contains {leftover.group(0)[:40]!r} after cleaning")
        if not article[key]:
            del article[key]
    words = len(article["content"].split())
    if words < min_content_words:
        raise Rejected("too short", f"content has {words} words (minimum data.min_content_words={min_content_words})")
    tags = normalise_tags(raw["tags"]) if not _empty(raw.get("tags")) else []
    article.update(id=article_id(url), url=url, date=iso_date(raw["date"]), type=canonical_type(raw["type"]))
    if tags:
        article["tags"] = tags
    return {key: article[key] for key in _ORDER if key in article}, found | in_content


# ------------------------------------------------------------------ duplicates


def _words(text: str) -> str:
    return " ".join(re.findall(r"\w+", text.casefold()))


def fingerprints(article: dict[str, Any]) -> dict[str, str]:
    """Keys under which two articles count as the same text: URL, normalised title, content hash."""
    parts = urlsplit(article["url"])
    return {
        "url": f"{parts.netloc.lower()}{parts.path.rstrip('/')}" + (f"?{parts.query}" if parts.query else ""),
        "title": _words(article.get("title", "")),
        "content": hashlib.sha1(_words(article["content"]).encode("utf-8")).hexdigest(),
    }


def deduplicate(
    articles: list[dict[str, Any]], wheres: list[str] | None = None
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """(kept, rejects): the first of each group of duplicates is kept, the others are rejected with the key.

    Titles count only together with the date: monthly sales reports share a title but are different articles.
    `wheres` (parallel to `articles`) says where each record came from, for the reject lines.
    """
    seen: dict[str, dict[str, str]] = {"url": {}, "title": {}, "content": {}}
    kept, rejects = [], []
    for index, article in enumerate(articles):
        keys = fingerprints(article)
        keys["title"] += f"|{article['date']}" if keys["title"] else ""
        clash = next((kind for kind, key in keys.items() if key and key in seen[kind]), None)
        if clash:
            what = {"url": "same URL", "title": "same title and date", "content": "same content"}[clash]
            error = Rejected("duplicate", f"{what} as {seen[clash][keys[clash]]}")
            rejects.append(reject_record(article, error, wheres[index] if wheres else None))
            continue
        for kind, key in keys.items():
            seen[kind][key] = article["id"]
        kept.append(article)
    return kept, rejects


# ------------------------------------------------------------------ the whole corpus


def reject_record(raw: dict[str, Any], error: Rejected, where: str | None = None) -> dict[str, Any]:
    """A reject line: reason category, detail, and enough of the record to find it again."""
    record = {key: raw.get(key) if isinstance(raw.get(key), (str, type(None))) else repr(raw.get(key))[:80]
              for key in ("title", "url")}
    if where:
        record["where"] = where
    return {"reason": error.reason, "detail": error.detail, "record": record}


def clean_corpus(
    raw_records: list[dict[str, Any]], min_content_words: int, max_chars: int
) -> tuple[list[dict[str, Any]], list[dict[str, Any]], dict[str, int]]:
    """(articles, rejects, boilerplate counts) for raw records in input order."""
    articles, wheres, found_in, rejects = [], [], {}, []
    for number, raw in enumerate(raw_records, start=1):
        where = raw.get("_where", f"record {number}")
        try:
            article, found = clean_article(raw, min_content_words, max_chars)
        except Rejected as error:
            rejects.append(reject_record(raw, error, where))
            continue
        articles.append(article)
        wheres.append(where)
        found_in.setdefault(article["id"], found)
    articles, duplicates = deduplicate(articles, wheres)
    stripped = Counter(kind for article in articles for kind in found_in[article["id"]])
    return articles, rejects + duplicates, dict(sorted(stripped.items()))


def _spread(values: list[float]) -> dict[str, float]:
    if not values:
        return {"mean": 0.0, "median": 0.0, "min": 0.0, "max": 0.0}
    return {
        "mean": round(statistics.fmean(values), 1),
        "median": float(statistics.median(values)),
        "min": float(min(values)),
        "max": float(max(values)),
    }


def data_report(
    read: int, articles: list[dict[str, Any]], rejects: list[dict[str, Any]], stripped: dict[str, int]
) -> dict[str, Any]:
    """Counts a user checks before trusting a corpus: what was kept, rejected and why, and its shape."""
    by_reason = Counter(reject["reason"] for reject in rejects)
    dates = sorted(article["date"] for article in articles)
    with_summary = [article for article in articles if "summary" in article]
    return {
        "records_read": read,
        "kept": len(articles),
        "rejected": len(rejects) - by_reason["duplicate"],
        "duplicates": by_reason.pop("duplicate", 0),
        "rejected_by_reason": dict(sorted(by_reason.items())),
        # Kept articles without a field that some tasks need: they feed only the other tasks.
        "missing_fields": {key: sum(key not in article for article in articles) for key in OPTIONAL},
        "boilerplate_stripped": stripped,
        "types": dict(sorted(Counter(article["type"] for article in articles).items())),
        "tags_per_article": _spread([len(article["tags"]) for article in articles if "tags" in article]),
        "distinct_tags": len({tag.casefold() for article in articles for tag in article.get("tags", [])}),
        "words": {key: _spread([len(article[key].split()) for article in articles if key in article])
                  for key in TEXT_FIELDS},
        "summary_in_content": round(
            sum(article["summary"] in article["content"] for article in with_summary) / max(len(with_summary), 1), 3
        ),
        "dates": {"first": dates[0], "last": dates[-1]} if dates else {},
    }
