"""Polite, incremental, resumable scraper of BMW PressClub articles (HTML listing or RSS feed).

Every fetched article is appended to `cache_dir/articles.jsonl` and fsynced at once, so a killed run
loses at most the article in flight, and the next run requests only the detail pages it lacks.
"""

import json
import os
import re
import time
import xml.etree.ElementTree as ET
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timezone
from email.utils import parsedate_to_datetime
from pathlib import Path
from typing import Any
from urllib.parse import urljoin

import requests
from bs4 import BeautifulSoup
from protego import Protego
from requests.adapters import HTTPAdapter
from urllib3.exceptions import NameResolutionError
from urllib3.exceptions import TimeoutError as Urllib3Timeout
from urllib3.util import Retry

from pressft.config import PressclubConfig
from pressft.errors import UserError
from pressft.io import jsonl_line

USER_AGENT = "pressft/0.1 (research fine-tuning pipeline; +https://github.com/pressft/pressft)"

RETRY_STATUSES = (429, 500, 502, 503, 504)
# A press article page is a few hundred KiB; anything far larger is not one and would only eat memory.
MAX_BODY_BYTES = 20 * 2**20
_DATE = re.compile(r"\b\d{2}\.\d{2}\.\d{4}\b")
_CHARSET = re.compile(r"charset\s*=\s*[\"']?([\w.:-]+)", re.IGNORECASE)


class FetchError(Exception):
    """A request that failed for good (after retries); the message is one line, `status` is set for HTTP errors."""

    def __init__(self, reason: str, status: int | None = None):
        super().__init__(reason)
        self.status = status


class _PoliteRetry(Retry):
    """urllib3 Retry that never retries sooner than the politeness gap.

    urllib3 skips the backoff before the first retry, and a Retry-After shorter than the gap
    would be honoured as is; both would hammer a struggling server faster than `delay_seconds`.
    """

    def __init__(self, *args: Any, min_gap: float = 0.0, **kwargs: Any):
        super().__init__(*args, **kwargs)
        self.min_gap = min_gap

    def new(self, **kw: Any) -> "_PoliteRetry":
        # Retry.new() rebuilds from a fixed keyword list that does not know min_gap.
        retry = super().new(**kw)
        retry.min_gap = self.min_gap
        return retry

    def sleep(self, response: Any = None) -> None:
        start = time.monotonic()
        super().sleep(response)
        remaining = self.min_gap - (time.monotonic() - start)
        if remaining > 0:
            time.sleep(remaining)


def _one_line(text: str, limit: int = 200) -> str:
    text = " ".join(str(text).split())
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _causes(error: BaseException) -> list[BaseException]:
    """The error and everything it wraps: requests hides urllib3's real cause in args, .reason and __cause__."""
    found: list[BaseException] = []
    stack: list[Any] = [error]
    while stack:
        current = stack.pop()
        if not isinstance(current, BaseException) or any(current is seen for seen in found):
            continue
        found.append(current)
        stack.extend([getattr(current, "reason", None), current.__cause__, current.__context__, *current.args])
    return found


def _describe(error: BaseException, timeout: float) -> str:
    """One line for a failed request; the refusal check comes first since urllib3's
    NewConnectionError subclasses its ConnectTimeoutError."""
    causes = _causes(error)
    if any(isinstance(cause, ConnectionRefusedError) for cause in causes):
        return "connection refused"
    if any(isinstance(cause, NameResolutionError) for cause in causes):
        return "cannot resolve the host name"
    if any(isinstance(cause, (TimeoutError, Urllib3Timeout, requests.Timeout)) for cause in causes):
        return f"timed out after {timeout:g} s"
    if any(isinstance(cause, ConnectionResetError) for cause in causes):
        return "connection reset by the server"
    innermost = causes[-1]
    return _one_line(f"{type(innermost).__name__}: {innermost}")


class _Client:
    """One session for the whole run: User-Agent, retries with backoff, timeouts and a minimum gap between requests."""

    def __init__(self, settings: PressclubConfig):
        self.delay = float(settings.delay_seconds)
        self.timeout = float(settings.timeout_seconds)
        self.retries = settings.retries
        self.requests = 0
        self._last: float | None = None
        retry = _PoliteRetry(
            total=self.retries,
            backoff_factor=float(settings.backoff_seconds),
            status_forcelist=RETRY_STATUSES,
            allowed_methods=["GET"],
            respect_retry_after_header=True,
            raise_on_status=False,
            min_gap=self.delay,
        )
        self.session = requests.Session()
        self.session.headers["User-Agent"] = USER_AGENT
        adapter = HTTPAdapter(max_retries=retry)
        self.session.mount("http://", adapter)
        self.session.mount("https://", adapter)

    def close(self) -> None:
        self.session.close()

    def slow_down(self, delay: float) -> None:
        """Raise the gap between requests (and retries) to at least `delay` seconds, e.g. a robots.txt Crawl-delay."""
        self.delay = max(self.delay, delay)
        for adapter in self.session.adapters.values():
            adapter.max_retries.min_gap = self.delay

    def _wait_turn(self) -> None:
        if self._last is not None:
            remaining = self.delay - (time.monotonic() - self._last)
            if remaining > 0:
                time.sleep(remaining)

    def get(self, url: str) -> tuple[bytes, str]:
        """(body, content type) of a 200 response, or FetchError with a one-line reason."""
        self._wait_turn()
        counted = False
        try:
            # Streamed so a body that trickles in forever or is huge can be cut off; a read timeout alone
            # only bounds the gap between two packets.
            with self.session.get(url, timeout=(self.timeout, self.timeout), stream=True) as response:
                history = getattr(getattr(response.raw, "retries", None), "history", ()) or ()
                # requests follows redirects itself; each hop is a request of its own.
                self.requests += 1 + len(history) + len(response.history)
                counted = True
                if response.status_code != 200:
                    retried = f" after {len(history)} retries" if history else ""
                    raise FetchError(f"HTTP {response.status_code}{retried}", status=response.status_code)
                body = self._read_body(response)
                return body, response.headers.get("Content-Type", "")
        except requests.RequestException as error:
            if not counted:
                # No response at all means urllib3 gave up after its retries, each one an attempt.
                self.requests += 1 + self.retries
            raise FetchError(_describe(error, self.timeout)) from None
        finally:
            # Measured from the end of the request, so a slow response never shortens the next gap.
            self._last = time.monotonic()

    def _read_body(self, response: requests.Response) -> bytes:
        deadline = time.monotonic() + self.timeout
        chunks, size = [], 0
        for chunk in response.iter_content(64 * 1024):
            size += len(chunk)
            if size > MAX_BODY_BYTES:
                raise FetchError(f"body larger than {MAX_BODY_BYTES // 2**20} MiB")
            if time.monotonic() > deadline:
                raise FetchError(f"timed out after {self.timeout:g} s reading the body")
            chunks.append(chunk)
        return b"".join(chunks)


def _html_text(body: bytes, content_type: str) -> str:
    """Decode an HTML body strictly: a page that is not text is garbage, not an article."""
    if b"\x00" in body:
        raise ValueError("body is binary, not HTML")
    match = _CHARSET.search(content_type)
    encoding = match.group(1) if match else "utf-8"
    try:
        return body.decode(encoding)
    except LookupError:
        raise ValueError(f"unknown charset {encoding!r}") from None
    except UnicodeDecodeError as error:
        raise ValueError(f"body is not valid {encoding} text (byte {error.start})") from None


def _text(node: Any) -> str:
    return node.get_text().strip() if node is not None else ""


def _tags(scope: Any) -> list[str]:
    box = scope.select_one("div.tagging-info")
    if box is None:
        return []
    return [tag for tag in (_text(div) for div in box.select("div.tag")) if tag]


def _failure(reason: str, title: str | None, url: str | None) -> dict[str, Any]:
    return {"reason": _one_line(reason), "record": {"title": title, "url": url}}


def parse_listing(html: str, base_url: str) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """(entries, failures) of a listing page; an entry has every record field except content and fetched_at."""
    soup = BeautifulSoup(html, "html.parser")
    entries, failures = [], []
    for article in soup.select("article.newsfeed"):
        link = article.select_one("h3 > a")
        title = _text(link) if link is not None else _text(article.select_one("h3")) or None
        href = (link.get("href") or "").strip() if link is not None else ""
        if not href or not title:
            failures.append(_failure("listing entry has no h3 > a title link with text and href", title, None))
            continue
        url = urljoin(base_url, href)
        date = _DATE.search(_text(article.select_one("span.date")))
        if date is None:
            failures.append(_failure("listing entry has no DD.MM.YYYY span.date", title, url))
            continue
        entries.append(
            {
                "title": title,
                "date": date.group(0),
                "type": _text(article.select_one("span.category")),
                "summary": _text(article.select_one("p.serif")),
                "tags": _tags(article),
                "url": url,
            }
        )
    return entries, failures


def parse_detail(html: str) -> dict[str, Any]:
    """{"content", "type", "tags"} of an article page ("" / [] when absent), or ValueError with the reason."""
    soup = BeautifulSoup(html, "html.parser")
    body = soup.select_one("div#article-text")
    if body is None:
        raise ValueError("detail page has no div#article-text")
    paragraphs = [text for text in (_text(p) for p in body.find_all("p")) if text]
    if not paragraphs:
        raise ValueError("detail page's div#article-text has no text paragraphs")
    return {"content": "\n\n".join(paragraphs), "type": _text(soup.select_one("span.category")), "tags": _tags(soup)}


def parse_rss(xml: bytes | str) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """(entries, failures) of an RSS 2.0 page; entries lack type and tags. ValueError if it is not RSS."""
    raw = xml.encode("utf-8") if isinstance(xml, str) else xml
    # Entity declarations are the only way to an expansion bomb or an external entity; RSS needs none.
    if b"<!ENTITY" in raw:
        raise ValueError("feed declares XML entities; refusing to expand them")
    try:
        root = ET.fromstring(raw)
    except ET.ParseError as error:
        raise ValueError(f"not well-formed XML ({error})") from None
    channel = root.find("channel")
    if root.tag != "rss" or channel is None:
        raise ValueError(f"not an RSS 2.0 feed (root element <{root.tag}>)")
    entries, failures = [], []
    for item in channel.findall("item"):
        title = (item.findtext("title") or "").strip()
        url = (item.findtext("link") or item.findtext("guid") or "").strip()
        if not title or not url:
            failures.append(_failure("feed item has no title or link", title or None, url or None))
            continue
        published = (item.findtext("pubDate") or "").strip()
        try:
            date = parsedate_to_datetime(published).strftime("%d.%m.%Y")
        except (TypeError, ValueError):
            failures.append(_failure(f"feed item has no RFC 822 pubDate ({published!r})", title, url))
            continue
        # The description is escaped HTML; its text is the summary the listing shows in p.serif.
        summary = BeautifulSoup(item.findtext("description") or "", "html.parser").get_text().strip()
        entries.append({"title": title, "date": date, "type": "", "summary": summary, "tags": [], "url": url})
    return entries, failures


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def _open_cache(path: Path) -> dict[str, dict[str, Any]]:
    """Cached records by url; a torn last line (killed mid-write) is dropped from the file, not just skipped."""
    path.parent.mkdir(parents=True, exist_ok=True)
    if not path.exists():
        return {}
    data = path.read_bytes()
    lines = data.split(b"\n")
    tail = lines.pop()  # bytes after the last newline: a write cut short by a kill
    keep = len(data) - len(tail)
    cached: dict[str, dict[str, Any]] = {}
    valid = True
    for line in lines:
        try:
            record = json.loads(line)
        except ValueError:
            # Skipped, not truncated: cutting the file at a bad line in the middle would throw good records away.
            valid = not line.strip()
            continue
        valid = True
        if isinstance(record, dict) and isinstance(record.get("url"), str):
            cached[record["url"]] = record
    if not valid:
        # A newline-terminated but unreadable last line (e.g. zeros after a crash) is torn too.
        keep -= len(lines[-1]) + 1
    if keep < len(data):
        with path.open("r+b") as handle:
            handle.truncate(keep)
            handle.flush()
            os.fsync(handle.fileno())
    return cached


class _Cache:
    """The cache's articles.jsonl: records by url, each new one appended and fsynced at once (a kill loses at most
    the article in flight)."""

    def __init__(self, path: Path):
        self.path = path
        self.records = _open_cache(path)
        self._handle: Any = None

    def __enter__(self) -> "_Cache":
        self._handle = self.path.open("a", encoding="utf-8")
        return self

    def __exit__(self, *exc: Any) -> None:
        self._handle.close()

    def append(self, record: dict[str, Any]) -> None:
        self._handle.write(jsonl_line(record))
        self._handle.flush()
        os.fsync(self._handle.fileno())
        self.records[record["url"]] = record


def _robots(client: _Client, base: str, param: str) -> Protego:
    """The site's robots.txt (RFC 9309, with its `*` and `$` wildcards): a missing one (4xx) allows everything, an
    unreachable one stops the run. A Crawl-delay for us slows the client down."""
    url = urljoin(base, "/robots.txt")
    try:
        body, _ = client.get(url)
    except FetchError as error:
        if error.status is not None and 400 <= error.status < 500:
            return Protego.parse("")
        raise UserError(f"cannot fetch {url}: {error}; check data.pressclub.{param} or your network") from None
    robots = Protego.parse(body.decode("utf-8", errors="replace"))
    client.slow_down(float(robots.crawl_delay(USER_AGENT) or 0))
    return robots


@dataclass(frozen=True)
class _Feed:
    """The pages to walk: the HTML listing or the RSS feed, and the param that names their URL (for messages)."""

    kind: str  # "listing" or "feed", as messages call a page
    param: str
    base: str

    @classmethod
    def of(cls, settings: PressclubConfig) -> "_Feed":
        feed = settings.feed  # listing or rss: checked with the params
        param = "listing_url" if feed == "listing" else "rss_url"
        return cls("listing" if feed == "listing" else "feed", param, getattr(settings, param))

    def page_url(self, page: int) -> str:
        return f"{self.base}{'&' if '?' in self.base else '?'}page={page}"

    def read(self, client: _Client, url: str) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
        """(entries, failures) of one page; FetchError or ValueError when the page as a whole fails."""
        body, content_type = client.get(url)
        if self.kind == "listing":
            return parse_listing(_html_text(body, content_type), url)
        return parse_rss(body)


@dataclass
class _Walk:
    """What a run has collected so far."""

    max_articles: int
    records: list[dict[str, Any]] = field(default_factory=list)
    failures: list[dict[str, Any]] = field(default_factory=list)
    seen: set[str] = field(default_factory=set)
    pages: int = 0
    new: int = 0
    from_cache: int = 0

    @property
    def full(self) -> bool:
        return len(self.records) >= self.max_articles


def _fetch_article(client: _Client, entry: dict[str, Any]) -> dict[str, Any]:
    """The record of a listing entry with its detail page's content; FetchError or ValueError when that fails."""
    body, content_type = client.get(entry["url"])
    detail = parse_detail(_html_text(body, content_type))
    return {
        **entry,
        "type": entry["type"] or detail["type"],
        "tags": entry["tags"] or detail["tags"],
        "content": detail["content"],
        "fetched_at": _now(),
    }


def _collect(
    client: _Client, robots: Protego, entries: list[dict[str, Any]], cache: _Cache, walk: _Walk
) -> tuple[int, int, int]:
    """Each entry of a page not seen yet: from the cache, or its detail page fetched and cached.
    Returns the page's (new, cached, failed) counts."""
    new = from_cache = failed = 0
    for entry in entries:
        if walk.full:
            break
        # Pages shift while we walk (a new article pushes one down to the next page): skip repeats.
        if entry["url"] in walk.seen:
            continue
        walk.seen.add(entry["url"])
        if entry["url"] in cache.records:
            walk.records.append(cache.records[entry["url"]])
            from_cache += 1
            continue
        if not robots.can_fetch(entry["url"], USER_AGENT):
            walk.failures.append(_failure("disallowed by robots.txt", entry["title"], entry["url"]))
            failed += 1
            continue
        try:
            record = _fetch_article(client, entry)
        except (FetchError, ValueError) as error:
            # Not cached, so the next run tries this article again.
            walk.failures.append(_failure(str(error), entry["title"], entry["url"]))
            failed += 1
            continue
        cache.append(record)
        walk.records.append(record)
        new += 1
    walk.new += new
    walk.from_cache += from_cache
    return new, from_cache, failed


def _walk_pages(
    client: _Client,
    robots: Protego,
    feed: _Feed,
    cache: _Cache,
    walk: _Walk,
    max_pages: int,
    log: Callable[[str], None],
) -> str:
    """Walk the pages newest first until enough articles, the last page or a failing one; returns why it stopped.
    A first page that fails is a UserError: a wrong URL or a changed site, not a short feed."""
    for page in range(1, max_pages + 1):
        url = feed.page_url(page)
        if not robots.can_fetch(url, USER_AGENT):
            if page == 1:
                raise UserError(f"robots.txt of the site disallows {url} for {USER_AGENT.split('/')[0]}")
            return f"{feed.kind} page {page} disallowed by robots.txt"
        walk.pages += 1
        try:
            entries, bad = feed.read(client, url)
        except (FetchError, ValueError) as error:
            if isinstance(error, FetchError) and error.status == 404 and page > 1:
                return "end of feed"
            if page == 1:
                if isinstance(error, FetchError):
                    hint = f"check data.pressclub.{feed.param} or your network"
                    raise UserError(f"cannot fetch {url}: {error}; {hint}") from None
                raise UserError(f"cannot read {url}: {error}; check data.pressclub.{feed.param}") from None
            stopped = f"{feed.kind} page {page} failed: {error}"
            log(f"pressclub: {stopped}; keeping the {len(walk.records)} articles collected so far")
            return stopped
        if not entries and not bad:
            if page == 1:
                # An empty first page means a wrong URL or a changed layout, not an empty site.
                what = "article.newsfeed entries" if feed.kind == "listing" else "<item> entries"
                raise UserError(f"{url} has no {what}; check data.pressclub.{feed.param} (or the site changed)")
            return "end of feed"
        walk.failures.extend(bad)
        new, from_cache, failed = _collect(client, robots, entries, cache, walk)
        log(
            f"pressclub: page {page}: {len(entries) + len(bad)} entries ({new} new, {from_cache} cached,"
            f" {failed + len(bad)} failed); {len(walk.records)}/{walk.max_articles} articles"
        )
        if walk.full:
            return "max_articles"
    return "max_pages"


def scrape(
    settings: PressclubConfig, cache_dir: Path, log: Callable[[str], None] = print
) -> tuple[list[dict[str, Any]], list[dict[str, Any]], dict[str, Any]]:
    """(records, failures, info): walk the listing or RSS pages newest first, fetching uncached articles."""
    feed = _Feed.of(settings)
    info: dict[str, Any] = {"source": "pressclub", "feed": settings.feed, "url": feed.base, "fetched_at": _now()}
    cache = _Cache(Path(cache_dir) / "articles.jsonl")
    walk = _Walk(max_articles=settings.max_articles)
    client = _Client(settings)
    try:
        robots = _robots(client, feed.base, feed.param)
        with cache:
            stopped = _walk_pages(client, robots, feed, cache, walk, settings.max_pages, log)
    finally:
        client.close()
    info.update(
        pages=walk.pages, new=walk.new, cached=walk.from_cache, failed=len(walk.failures), requests=client.requests,
        stopped=stopped,
    )
    log(
        f"pressclub: {len(walk.records)} articles ({walk.new} new, {walk.from_cache} cached),"
        f" {len(walk.failures)} failed, {walk.pages} pages, {client.requests} requests; stopped: {stopped}"
    )
    return walk.records, walk.failures, info
