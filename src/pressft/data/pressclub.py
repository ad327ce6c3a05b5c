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
from datetime import datetime, timezone
from email.utils import parsedate_to_datetime
from pathlib import Path
from typing import Any
from urllib.parse import urljoin
from urllib.robotparser import RobotFileParser

import requests
from bs4 import BeautifulSoup
from requests.adapters import HTTPAdapter
from urllib3.exceptions import NameResolutionError
from urllib3.exceptions import TimeoutError as Urllib3Timeout
from urllib3.util import Retry

from pressft.config import PressclubConfig
from pressft.errors import UserError

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


def _append(handle: Any, record: dict[str, Any]) -> None:
    handle.write(json.dumps(record, ensure_ascii=False) + "\n")
    handle.flush()
    os.fsync(handle.fileno())


def _robots(client: _Client, base: str, param: str) -> RobotFileParser:
    """The site's robots.txt (RFC 9309): a missing one (4xx) allows everything, an unreachable one stops the run."""
    url = urljoin(base, "/robots.txt")
    robots = RobotFileParser(url)
    try:
        body, _ = client.get(url)
    except FetchError as error:
        if error.status is not None and 400 <= error.status < 500:
            robots.allow_all = True
            return robots
        raise UserError(f"cannot fetch {url}: {error}; check data.pressclub.{param} or your network") from None
    robots.parse(body.decode("utf-8", errors="replace").splitlines())
    client.slow_down(float(robots.crawl_delay(USER_AGENT) or 0))
    return robots


def _page_url(base: str, page: int) -> str:
    return f"{base}{'&' if '?' in base else '?'}page={page}"


def scrape(
    settings: PressclubConfig, cache_dir: Path, log: Callable[[str], None] = print
) -> tuple[list[dict[str, Any]], list[dict[str, Any]], dict[str, Any]]:
    """(records, failures, info): walk the listing or RSS pages newest first, fetching uncached articles."""
    feed = settings.feed
    if feed not in ("listing", "rss"):
        raise UserError(f"data.pressclub.feed must be 'listing' or 'rss', not {feed!r}")
    param = "listing_url" if feed == "listing" else "rss_url"
    base = getattr(settings, param)
    kind = "listing" if feed == "listing" else "feed"
    max_articles, max_pages = settings.max_articles, settings.max_pages
    info: dict[str, Any] = {"source": "pressclub", "feed": feed, "url": base, "fetched_at": _now()}
    cache_path = Path(cache_dir) / "articles.jsonl"
    cached = _open_cache(cache_path)
    records: list[dict[str, Any]] = []
    failures: list[dict[str, Any]] = []
    seen: set[str] = set()
    pages = new = from_cache = 0
    stopped = "max_pages"
    client = _Client(settings)
    try:
        robots = _robots(client, base, param)
        with cache_path.open("a", encoding="utf-8") as cache:
            for page in range(1, max_pages + 1):
                url = _page_url(base, page)
                if not robots.can_fetch(USER_AGENT, url):
                    if page == 1:
                        raise UserError(f"robots.txt of the site disallows {url} for {USER_AGENT.split('/')[0]}")
                    stopped = f"{kind} page {page} disallowed by robots.txt"
                    break
                pages += 1
                try:
                    body, content_type = client.get(url)
                    if feed == "listing":
                        entries, bad = parse_listing(_html_text(body, content_type), url)
                    else:
                        entries, bad = parse_rss(body)
                except (FetchError, ValueError) as error:
                    if isinstance(error, FetchError) and error.status == 404 and page > 1:
                        stopped = "end of feed"
                        break
                    if page == 1:
                        if isinstance(error, FetchError):
                            hint = f"check data.pressclub.{param} or your network"
                            raise UserError(f"cannot fetch {url}: {error}; {hint}") from None
                        raise UserError(f"cannot read {url}: {error}; check data.pressclub.{param}") from None
                    stopped = f"{kind} page {page} failed: {error}"
                    log(f"pressclub: {stopped}; keeping the {len(records)} articles collected so far")
                    break
                if not entries and not bad:
                    if page == 1:
                        # An empty first page means a wrong URL or a changed layout, not an empty site.
                        what = "article.newsfeed entries" if feed == "listing" else "<item> entries"
                        raise UserError(f"{url} has no {what}; check data.pressclub.{param} (or the site changed)")
                    stopped = "end of feed"
                    break
                failures.extend(bad)
                page_new = page_cached = 0
                page_failed = len(bad)
                for entry in entries:
                    if len(records) >= max_articles:
                        break
                    # Pages shift while we walk (a new article pushes one down to the next page): skip repeats.
                    if entry["url"] in seen:
                        continue
                    seen.add(entry["url"])
                    if entry["url"] in cached:
                        records.append(cached[entry["url"]])
                        page_cached += 1
                        continue
                    if not robots.can_fetch(USER_AGENT, entry["url"]):
                        failures.append(_failure("disallowed by robots.txt", entry["title"], entry["url"]))
                        page_failed += 1
                        continue
                    try:
                        detail_body, detail_type = client.get(entry["url"])
                        detail = parse_detail(_html_text(detail_body, detail_type))
                    except (FetchError, ValueError) as error:
                        # Not cached, so the next run tries this article again.
                        failures.append(_failure(str(error), entry["title"], entry["url"]))
                        page_failed += 1
                        continue
                    record = {
                        **entry,
                        "type": entry["type"] or detail["type"],
                        "tags": entry["tags"] or detail["tags"],
                        "content": detail["content"],
                        "fetched_at": _now(),
                    }
                    _append(cache, record)
                    cached[record["url"]] = record
                    records.append(record)
                    page_new += 1
                new += page_new
                from_cache += page_cached
                log(
                    f"pressclub: page {page}: {len(entries) + len(bad)} entries ({page_new} new, {page_cached} cached,"
                    f" {page_failed} failed); {len(records)}/{max_articles} articles"
                )
                if len(records) >= max_articles:
                    stopped = "max_articles"
                    break
    finally:
        client.close()
    info.update(
        pages=pages, new=new, cached=from_cache, failed=len(failures), requests=client.requests, stopped=stopped
    )
    log(
        f"pressclub: {len(records)} articles ({new} new, {from_cache} cached), {len(failures)} failed,"
        f" {pages} pages, {client.requests} requests; stopped: {stopped}"
    )
    return records, failures, info
