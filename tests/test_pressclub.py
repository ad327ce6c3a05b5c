"""The PressClub scraper against a local HTTP server serving pages in the site's structure, with invented text.

Nothing here reaches the internet: every page comes from a ThreadingHTTPServer on 127.0.0.1.
"""

import json
import socket
import threading
import time
from dataclasses import dataclass, field, replace
from html import escape
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from pressft.config import PressclubConfig
from pressft.data import pressclub
from pressft.errors import UserError
from pressft.data.pressclub import parse_detail, parse_listing, parse_rss, scrape

LISTING_PATH = "/global/article"
RSS_PATH = "/global/rss"
DETAIL_PREFIX = "/global/article/detail/"
HTML = {"Content-Type": "text/html; charset=utf-8"}
RSS = {"Content-Type": "application/rss+xml; charset=utf-8"}


@dataclass
class Reply:
    status: int = 200
    body: bytes | str = b""
    headers: dict[str, str] = field(default_factory=lambda: dict(HTML))
    delay: float = 0.0


class Site:
    """Routes (path with query -> replies, the last one repeating) and a log of (path, headers, monotonic time)."""

    def __init__(self) -> None:
        self.routes: dict[str, list[Reply]] = {}
        self.log: list[tuple[str, dict[str, str], float]] = []
        self.lock = threading.Lock()
        self.base = ""

    def route(self, path: str, *replies: Reply) -> None:
        with self.lock:
            self.routes[path] = list(replies)

    def reply(self, path: str, headers: dict[str, str]) -> Reply:
        with self.lock:
            self.log.append((path, headers, time.monotonic()))
            replies = self.routes.get(path)
            if not replies:
                return Reply(404, "<html><body>not found</body></html>")
            return replies.pop(0) if len(replies) > 1 else replies[0]

    def paths(self, prefix: str = "") -> list[str]:
        with self.lock:
            return [path for path, _, _ in self.log if path.startswith(prefix)]

    def clear(self) -> None:
        with self.lock:
            self.log.clear()


class _Handler(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        reply = self.server.site.reply(self.path, dict(self.headers))
        if reply.delay:
            time.sleep(reply.delay)
        body = reply.body.encode("utf-8") if isinstance(reply.body, str) else reply.body
        try:
            self.send_response(reply.status)
            for name, value in reply.headers.items():
                self.send_header(name, value)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the client gave up (timeout test); nothing to answer

    def log_message(self, *args) -> None:
        pass


@pytest.fixture
def site():
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    server.site = Site()
    server.site.base = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    yield server.site
    server.shutdown()
    server.server_close()


def settings(site: Site, **overrides) -> PressclubConfig:
    values = {
        "feed": "listing",
        "listing_url": site.base + LISTING_PATH,
        "rss_url": site.base + RSS_PATH,
        "max_articles": 100,
        "max_pages": 50,
        "delay_seconds": 0.0,
        "timeout_seconds": 2.0,
        "retries": 2,
        "backoff_seconds": 0.01,
    }
    values.update(overrides)
    return PressclubConfig(**values)


def invented(i: int) -> dict:
    """An invented article: nothing here is real PressClub text."""
    return {
        "path": f"{DETAIL_PREFIX}T{9000 + i:07d}EN/invented-item-{i}",
        "title": f"Invented item {i}: the Aurora prototype crosses a frozen test lake",
        "date": f"{10 + i:02d}.02.2031",
        "type": "Press Kit" if i % 3 == 0 else "Press Release",
        "summary": f"An invented summary for item {i}, written only for these tests.",
        "tags": [f"Invented tag {i % 2}", "Testing"],
        "paragraphs": [f"Invented opening paragraph of item {i}.", f"A second invented paragraph, item {i}."],
    }


def entry_html(article: dict) -> str:
    tags = "".join(f'<div class="tag">{escape(tag)}</div>' for tag in article["tags"])
    return f"""
    <article class="newsfeed clearfix">
      <div class="text">
        <span class="date">{article['date']}</span> <span class="category">{escape(article['type'])}</span>
        <h3><a href="{article['path']}">{escape(article['title'])}</a></h3>
        <p class="serif">  {escape(article['summary'])}
        </p>
        <div class="tagging-info">{tags}</div>
      </div>
    </article>"""


def listing_html(entries: list[str]) -> str:
    return f"<html><head><title>PressClub</title></head><body><div id='feed'>{''.join(entries)}</div></body></html>"


def detail_html(article: dict, with_meta: bool = False) -> str:
    paragraphs = "".join(f"<p>\n  {escape(text)}  </p>" for text in article["paragraphs"])
    meta = ""
    if with_meta:
        tags = "".join(f'<div class="tag">{escape(tag)}</div>' for tag in article["tags"])
        meta = f'<span class="category">{escape(article["type"])}</span><div class="tagging-info">{tags}</div>'
    return (
        f"<html><body><h1>{escape(article['title'])}</h1>{meta}"
        f'<div id="article-text"><p> </p>{paragraphs}</div><footer><p>Not article text.</p></footer></body></html>'
    )


def publish(site: Site, articles: list[dict], per_page: int = 3, end: str = "empty") -> None:
    """Listing pages of per_page entries, their detail pages, and an end marker (an empty page or a 404)."""
    pages = [articles[start : start + per_page] for start in range(0, len(articles), per_page)]
    for number, page in enumerate(pages, start=1):
        site.route(f"{LISTING_PATH}?page={number}", Reply(body=listing_html([entry_html(a) for a in page])))
    if end == "empty":
        site.route(f"{LISTING_PATH}?page={len(pages) + 1}", Reply(body=listing_html([])))
    for article in articles:
        site.route(article["path"], Reply(body=detail_html(article)))


def expected(base: str, article: dict) -> dict:
    return {
        "title": article["title"],
        "date": article["date"],
        "type": article["type"],
        "summary": article["summary"],
        "tags": article["tags"],
        "url": base + article["path"],
        "content": "\n\n".join(article["paragraphs"]),
    }


def without_time(records: list[dict]) -> list[dict]:
    return [{key: value for key, value in record.items() if key != "fetched_at"} for record in records]


def cache_lines(cache_dir: Path) -> list[dict]:
    text = (cache_dir / "articles.jsonl").read_text(encoding="utf-8")
    assert text == "" or text.endswith("\n")
    return [json.loads(line) for line in text.splitlines()]


@pytest.mark.parametrize("end", ["empty", "404"])
def test_listing_walk_to_the_end(site, tmp_path, end):
    articles = [invented(i) for i in range(7)]
    publish(site, articles, end=end)
    lines = []

    records, failures, info = scrape(settings(site), tmp_path, log=lines.append)

    assert failures == []
    assert without_time(records) == [expected(site.base, article) for article in articles]
    assert all(record["url"].startswith("http://127.0.0.1:") for record in records)
    assert records[0]["content"] == "Invented opening paragraph of item 0.\n\nA second invented paragraph, item 0."
    assert all(record["fetched_at"].endswith("+00:00") and len(record["fetched_at"]) == 25 for record in records)
    assert info["source"] == "pressclub" and info["feed"] == "listing" and info["url"] == site.base + LISTING_PATH
    assert (info["pages"], info["new"], info["cached"], info["failed"]) == (4, 7, 0, 0)
    assert info["stopped"] == "end of feed"
    assert info["requests"] == len(site.log) == 1 + 4 + 7  # robots.txt, pages, detail pages
    assert site.paths()[0] == "/robots.txt"
    assert lines[0] == "pressclub: page 1: 3 entries (3 new, 0 cached, 0 failed); 3/100 articles"
    assert lines[2] == "pressclub: page 3: 1 entries (1 new, 0 cached, 0 failed); 7/100 articles"
    assert len(lines) == 4 and "stopped: end of feed" in lines[-1]
    assert [record["url"] for record in cache_lines(tmp_path)] == [record["url"] for record in records]


def test_parsers_directly():
    page = listing_html(
        [
            entry_html(invented(1)),
            '<article class="newsfeed"><h3>Invented entry without a link</h3>'
            '<span class="date">01.01.2031</span></article>',
            '<article class="newsfeed"><h3><a href="/x">Invented entry without a date</a></h3></article>',
        ]
    )
    entries, failures = parse_listing(page, "https://press.example/global/article?page=2")
    want = expected("https://press.example", invented(1))
    del want["content"]
    assert entries == [want]
    assert [f["reason"] for f in failures] == [
        "listing entry has no h3 > a title link with text and href",
        "listing entry has no DD.MM.YYYY span.date",
    ]
    assert failures[0]["record"] == {"title": "Invented entry without a link", "url": None}
    assert failures[1]["record"]["url"] == "https://press.example/x"

    detail = parse_detail(detail_html(invented(2), with_meta=True))
    assert detail == {
        "content": "\n\n".join(invented(2)["paragraphs"]),
        "type": "Press Release",
        "tags": ["Invented tag 0", "Testing"],
    }
    assert parse_detail(detail_html(invented(3)))["type"] == ""
    with pytest.raises(ValueError, match=r"^detail page has no div#article-text$"):
        parse_detail("<html><body><p>Invented text outside the article.</p></body></html>")


def test_retries_on_500_and_429_and_honours_retry_after(site, tmp_path):
    articles = [invented(i) for i in range(3)]
    publish(site, articles)
    good = [Reply(body=detail_html(article)) for article in articles]
    site.route(articles[0]["path"], Reply(500, "<html>invented outage</html>"), good[0])
    site.route(articles[1]["path"], Reply(429, "slow down", {**HTML, "Retry-After": "0"}), good[1])
    site.route(articles[2]["path"], Reply(503, "busy", {**HTML, "Retry-After": "1"}), good[2])

    records, failures, info = scrape(settings(site), tmp_path, log=lambda line: None)

    assert failures == []
    assert without_time(records) == [expected(site.base, article) for article in articles]
    for article in articles:
        assert site.paths(article["path"]) == [article["path"]] * 2
    retried = [t for path, _, t in site.log if path == articles[2]["path"]]
    assert retried[1] - retried[0] >= 1.0  # Retry-After: 1 was waited out
    assert info["requests"] == len(site.log)


def test_detail_that_always_fails_is_reported_not_cached_and_retried_next_run(site, tmp_path):
    articles = [invented(i) for i in range(4)]
    publish(site, articles)
    site.route(articles[1]["path"], Reply(500, "<html>invented outage</html>"))

    records, failures, info = scrape(settings(site, retries=2), tmp_path, log=lambda line: None)

    assert [record["url"] for record in records] == [site.base + articles[i]["path"] for i in (0, 2, 3)]
    assert failures == [
        {
            "reason": "HTTP 500 after 2 retries",
            "record": {"title": articles[1]["title"], "url": site.base + articles[1]["path"]},
        }
    ]
    assert info["failed"] == 1 and info["new"] == 3
    assert len(site.paths(articles[1]["path"])) == 3  # one try + two retries
    assert site.base + articles[1]["path"] not in {r["url"] for r in cache_lines(tmp_path)}

    site.clear()
    site.route(articles[1]["path"], Reply(body=detail_html(articles[1])))
    records, failures, info = scrape(settings(site), tmp_path, log=lambda line: None)
    assert failures == []
    assert without_time(records) == [expected(site.base, article) for article in articles]
    assert site.paths(DETAIL_PREFIX) == [articles[1]["path"]]
    assert (info["new"], info["cached"]) == (1, 3)


def test_slow_detail_times_out_and_the_walk_continues(site, tmp_path):
    articles = [invented(i) for i in range(3)]
    publish(site, articles)
    site.route(articles[0]["path"], Reply(body=detail_html(articles[0]), delay=1.0))

    records, failures, info = scrape(settings(site, timeout_seconds=0.3, retries=1), tmp_path, log=lambda line: None)

    assert [failure["reason"] for failure in failures] == ["timed out after 0.3 s"]
    assert [record["url"] for record in records] == [site.base + articles[i]["path"] for i in (1, 2)]
    assert len(site.paths(articles[0]["path"])) == 2
    assert info["requests"] == len(site.log)


def test_broken_pages_and_entries_become_failures(site, tmp_path):
    articles = [invented(i) for i in range(4)]
    publish(site, articles, per_page=4)
    no_link = '<article class="newsfeed"><h3>Invented entry whose link went missing</h3></article>'
    site.route(
        f"{LISTING_PATH}?page=1",
        Reply(body=listing_html([entry_html(articles[0]), no_link, *(entry_html(a) for a in articles[1:])])),
    )
    site.route(articles[1]["path"], Reply(body="<html><body><div id='content'><p>Invented.</p></div></body></html>"))
    site.route(articles[2]["path"], Reply(body=b"\x89PNG\r\n\x1a\n\xff\xfe garbage"))

    lines = []
    records, failures, info = scrape(settings(site), tmp_path, log=lines.append)

    assert [record["url"] for record in records] == [site.base + articles[i]["path"] for i in (0, 3)]
    reasons = {failure["record"]["title"]: failure["reason"] for failure in failures}
    assert reasons == {
        "Invented entry whose link went missing": "listing entry has no h3 > a title link with text and href",
        articles[1]["title"]: "detail page has no div#article-text",
        articles[2]["title"]: "body is not valid utf-8 text (byte 0)",
    }
    assert info["failed"] == 3
    assert lines[0] == "pressclub: page 1: 5 entries (2 new, 0 cached, 3 failed); 2/100 articles"


def test_user_agent_and_minimum_gap_between_requests(site, tmp_path):
    articles = [invented(i) for i in range(4)]
    publish(site, articles, per_page=2)
    site.route(articles[1]["path"], Reply(500, "invented outage"), Reply(body=detail_html(articles[1])))

    records, failures, info = scrape(settings(site, delay_seconds=0.05), tmp_path, log=lambda line: None)

    assert len(records) == 4 and failures == []
    assert all("pressft" in headers["User-Agent"] for _, headers, _ in site.log)
    assert site.log[0][1]["User-Agent"] == pressclub.USER_AGENT
    times = [t for _, _, t in site.log]
    assert len(times) == 1 + 3 + 4 + 1  # robots.txt, pages, detail pages; the retry counts too, and keeps the gap
    assert min(later - earlier for earlier, later in zip(times, times[1:])) >= 0.05


def test_max_articles_and_max_pages_stop_the_walk(site, tmp_path):
    articles = [invented(i) for i in range(9)]
    publish(site, articles)

    records, _, info = scrape(settings(site, max_articles=4), tmp_path / "a", log=lambda line: None)
    assert [record["title"] for record in records] == [article["title"] for article in articles[:4]]
    assert (info["pages"], info["stopped"]) == (2, "max_articles")
    assert site.paths(LISTING_PATH + "?") == [f"{LISTING_PATH}?page=1", f"{LISTING_PATH}?page=2"]
    assert len(site.paths(DETAIL_PREFIX)) == 4

    records, _, info = scrape(settings(site, max_pages=1), tmp_path / "b", log=lambda line: None)
    assert len(records) == 3 and (info["pages"], info["stopped"]) == (1, "max_pages")


def test_second_run_is_incremental(site, tmp_path):
    articles = [invented(i) for i in range(6)]
    publish(site, articles)
    first, _, _ = scrape(settings(site), tmp_path, log=lambda line: None)

    site.clear()
    second, failures, info = scrape(settings(site), tmp_path, log=lambda line: None)
    assert second == first and failures == []
    assert site.paths(DETAIL_PREFIX) == []
    assert (info["new"], info["cached"], info["requests"]) == (0, 6, 1 + 3)  # robots.txt and the listing pages

    # A newly published article appears on page 1 and pushes the others down: only it is fetched.
    fresh = invented(42)
    publish(site, [fresh, *articles])
    site.clear()
    third, _, info = scrape(settings(site), tmp_path, log=lambda line: None)
    assert third[1:] == first and third[0]["title"] == fresh["title"]
    assert site.paths(DETAIL_PREFIX) == [fresh["path"]]
    assert (info["new"], info["cached"]) == (1, 6)


def test_pages_that_shift_during_the_walk_do_not_duplicate(site, tmp_path):
    articles = [invented(i) for i in range(4)]
    publish(site, articles, per_page=2)
    # Page 2 was requested after a new article pushed item 1 down from page 1.
    site.route(f"{LISTING_PATH}?page=2", Reply(body=listing_html([entry_html(a) for a in articles[1:]])))

    records, _, _ = scrape(settings(site), tmp_path, log=lambda line: None)
    assert [record["title"] for record in records] == [article["title"] for article in articles]
    assert len(site.paths(DETAIL_PREFIX)) == 4


def test_resume_after_interruption(site, tmp_path, monkeypatch):
    articles = [invented(i) for i in range(7)]
    publish(site, articles)
    reference, _, _ = scrape(settings(site), tmp_path / "reference", log=lambda line: None)

    real_parse_detail = pressclub.parse_detail
    calls = []

    def interrupted(html):
        calls.append(html)
        if len(calls) == 3:
            raise KeyboardInterrupt  # as if Ctrl-C hit while the 3rd article was being fetched
        return real_parse_detail(html)

    monkeypatch.setattr(pressclub, "parse_detail", interrupted)
    with pytest.raises(KeyboardInterrupt):
        scrape(settings(site), tmp_path / "run", log=lambda line: None)
    assert [record["title"] for record in cache_lines(tmp_path / "run")] == [a["title"] for a in articles[:2]]

    monkeypatch.setattr(pressclub, "parse_detail", real_parse_detail)
    site.clear()
    records, failures, info = scrape(settings(site), tmp_path / "run", log=lambda line: None)
    assert failures == []
    assert site.paths(DETAIL_PREFIX) == [article["path"] for article in articles[2:]]
    assert without_time(records) == without_time(reference)
    assert (info["new"], info["cached"]) == (5, 2)
    assert len(cache_lines(tmp_path / "run")) == 7


@pytest.mark.parametrize(
    "torn", [b'{"title": "Invented half-written', b'\x00\x00\x00\x00\n'], ids=["no-newline", "garbage-line"]
)
def test_torn_last_cache_line_is_ignored_and_truncated(site, tmp_path, torn):
    articles = [invented(i) for i in range(5)]
    publish(site, articles)
    scrape(settings(site, max_articles=2), tmp_path, log=lambda line: None)
    cache = tmp_path / "articles.jsonl"
    with cache.open("ab") as handle:
        handle.write(torn)

    site.clear()
    records, failures, info = scrape(settings(site), tmp_path, log=lambda line: None)

    assert failures == [] and len(records) == 5
    assert (info["new"], info["cached"]) == (3, 2)
    assert site.paths(DETAIL_PREFIX) == [article["path"] for article in articles[2:]]
    assert [record["title"] for record in cache_lines(tmp_path)] == [article["title"] for article in articles]


def test_later_listing_page_failure_keeps_what_was_collected(site, tmp_path):
    articles = [invented(i) for i in range(6)]
    publish(site, articles)
    site.route(f"{LISTING_PATH}?page=2", Reply(502, "invented gateway error"))
    lines = []

    records, failures, info = scrape(settings(site, retries=1), tmp_path, log=lines.append)

    assert len(records) == 3 and failures == []
    assert info["stopped"] == "listing page 2 failed: HTTP 502 after 1 retries"
    assert info["pages"] == 2
    assert any("listing page 2 failed" in line for line in lines)


def _closed_port_url() -> str:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}{LISTING_PATH}"


@pytest.mark.parametrize("case", ["http-500", "closed-port", "404", "empty", "garbage-rss"])
def test_first_page_unreachable_is_a_user_error(site, tmp_path, case):
    overrides = {"retries": 1}
    if case == "http-500":
        site.route(f"{LISTING_PATH}?page=1", Reply(500, "invented outage"))
        cause = "HTTP 500 after 1 retries"
    elif case == "closed-port":
        overrides["listing_url"] = _closed_port_url()
        cause = "connection refused"
    elif case == "404":
        cause = "HTTP 404"
    elif case == "empty":
        site.route(f"{LISTING_PATH}?page=1", Reply(body=listing_html([])))
        cause = "has no article.newsfeed entries"
    else:
        overrides["feed"] = "rss"
        site.route(f"{RSS_PATH}?page=1", Reply(body="<html><body>Invented maintenance page", headers=RSS))
        cause = "not well-formed XML"

    with pytest.raises(UserError) as raised:
        scrape(settings(site, **overrides), tmp_path, log=lambda line: None)

    message = str(raised.value)
    assert "\n" not in message
    assert cause in message
    # A closed port already fails on robots.txt, the first request of every run.
    assert ("?page=1" if case != "closed-port" else "/robots.txt") in message and "data.pressclub." in message


def rss_html(items: list[str]) -> str:
    return (
        '<?xml version="1.0" encoding="UTF-8"?>\n<rss version="2.0"><channel><title>Invented feed</title>'
        f"<link>http://example.invalid/</link><description>Invented</description>{''.join(items)}</channel></rss>"
    )


def rss_item(site: Site, article: dict, pub_date: str) -> str:
    description = escape(f"<p>{article['summary'][:20]}<b>{article['summary'][20:]}</b></p>")
    return (
        f"<item><title>{escape(article['title'])}</title><link>{site.base}{article['path']}</link>"
        f"<guid>{site.base}{article['path']}</guid><pubDate>{pub_date}</pubDate>"
        f"<description>{description}</description></item>"
    )


def test_rss_feed_walk(site, tmp_path):
    articles = [invented(i) for i in range(4)]
    dates = ["Tue, 11 Feb 2031 09:30:00 +0100", "Wed, 12 Feb 2031 23:10:00 +0100", "Thu, 13 Feb 2031 08:00:00 GMT",
             "Fri, 14 Feb 2031 12:00:00 +0000"]
    items = [rss_item(site, article, date) for article, date in zip(articles, dates)]
    site.route(f"{RSS_PATH}?page=1", Reply(body=rss_html(items[:2]), headers=RSS))
    site.route(f"{RSS_PATH}?page=2", Reply(body=rss_html(items[2:]), headers=RSS))
    site.route(f"{RSS_PATH}?page=3", Reply(body=rss_html([]), headers=RSS))
    for article in articles[:3]:
        site.route(article["path"], Reply(body=detail_html(article, with_meta=True)))
    site.route(articles[3]["path"], Reply(body=detail_html(articles[3])))  # no category or tags on this one

    records, failures, info = scrape(settings(site, feed="rss"), tmp_path, log=lambda line: None)

    assert failures == []
    want = [expected(site.base, article) for article in articles]
    for record, date in zip(want, ["11.02.2031", "12.02.2031", "13.02.2031", "14.02.2031"]):
        record["date"] = date
    want[3].update(type="", tags=[])
    assert without_time(records) == want
    assert (info["feed"], info["url"]) == ("rss", site.base + RSS_PATH)
    assert (info["pages"], info["stopped"]) == (3, "end of feed")


def test_rss_garbage_later_page_ends_the_walk(site, tmp_path):
    articles = [invented(i) for i in range(2)]
    items = [rss_item(site, article, "Tue, 11 Feb 2031 09:30:00 +0100") for article in articles]
    site.route(f"{RSS_PATH}?page=1", Reply(body=rss_html(items), headers=RSS))
    site.route(f"{RSS_PATH}?page=2", Reply(body=b"\xff\xfe<<< invented garbage", headers=RSS))
    for article in articles:
        site.route(article["path"], Reply(body=detail_html(article, with_meta=True)))

    records, failures, info = scrape(settings(site, feed="rss"), tmp_path, log=lambda line: None)

    assert len(records) == 2 and failures == []
    assert info["stopped"].startswith("feed page 2 failed: not well-formed XML")


def test_parse_rss_rejects_entities_and_non_rss():
    bomb = (
        '<?xml version="1.0"?><!DOCTYPE rss [<!ENTITY a "invented"><!ENTITY b "&a;&a;&a;&a;">]>'
        "<rss><channel><item><title>&b;</title></item></channel></rss>"
    )
    with pytest.raises(ValueError, match="entities"):
        parse_rss(bomb)
    with pytest.raises(ValueError, match="not an RSS 2.0 feed"):
        parse_rss("<feed><entry/></feed>")
    no_link = "<item><title>Invented, no link</title></item>"
    bad_date = "<item><title>Invented bad date</title><link>http://x.invalid/a</link><pubDate>soon</pubDate></item>"
    entries, failures = parse_rss(rss_html([no_link, bad_date]))
    assert entries == []
    assert [f["reason"] for f in failures] == [
        "feed item has no title or link",
        "feed item has no RFC 822 pubDate ('soon')",
    ]


def test_robots_txt_is_obeyed(site, tmp_path):
    articles = [invented(i) for i in range(4)]
    publish(site, articles)
    blocked = articles[1]["path"]
    site.route("/robots.txt", Reply(body=f"User-agent: *\nDisallow: {blocked}\n", headers={"Content-Type": "text/plain"}))
    records, failures, _ = scrape(settings(site), tmp_path, log=lambda line: None)
    assert blocked not in site.paths()
    assert [record["url"] for record in records] == [site.base + a["path"] for a in articles if a["path"] != blocked]
    assert failures == [{"reason": "disallowed by robots.txt",
                         "record": {"title": articles[1]["title"], "url": site.base + blocked}}]


def test_robots_txt_crawl_delay_slows_requests_down(site, tmp_path):
    """A fractional delay counts as it is (Python's robotparser read whole seconds only)."""
    publish(site, [invented(0)])
    site.route("/robots.txt", Reply(body="User-agent: pressft\nCrawl-delay: 0.5\n", headers={"Content-Type": "text/plain"}))
    scrape(settings(site, delay_seconds=0.0, max_articles=1), tmp_path, log=lambda line: None)
    times = [when for _, _, when in site.log]
    assert len(times) == 3  # robots.txt, page 1, the one detail page
    assert min(later - earlier for earlier, later in zip(times, times[1:])) >= 0.5


def test_robots_txt_wildcards_of_rfc_9309(site, tmp_path):
    """`*` matches any characters and `$` anchors at the end of the path; urllib's robotparser knew only prefixes."""
    articles = [invented(i) for i in range(6)]
    suffixes = ["/press-kit.pdf", "/press-kit.pdf?download=1", "/press-kit.pdfx", "", "", ""]
    for article, suffix in zip(articles, suffixes):
        article["path"] += suffix
    articles[3]["path"] = "/global/de/private/invented-item-3"
    articles[4]["path"] = "/global/private/invented-item-4"  # `*/private` needs a segment between
    articles[5]["path"] = "/global/a/b/private"  # `*` spans slashes
    publish(site, articles)
    rules = "User-agent: *\nDisallow: /*.pdf$\nDisallow: /global/*/private\n"
    site.route("/robots.txt", Reply(body=rules, headers={"Content-Type": "text/plain"}))
    records, failures, _ = scrape(settings(site), tmp_path, log=lambda line: None)
    blocked = [articles[0], articles[3], articles[5]]
    assert not {article["path"] for article in blocked} & set(site.paths())
    assert [record["url"] for record in records] == [site.base + articles[i]["path"] for i in (1, 2, 4)]
    assert failures == [{"reason": "disallowed by robots.txt", "record": {"title": a["title"], "url": site.base + a["path"]}}
                        for a in blocked]


def test_robots_txt_disallowing_the_listing_is_a_user_error(site, tmp_path):
    publish(site, [invented(0)])
    site.route("/robots.txt", Reply(body="User-agent: *\nDisallow: /global/\n", headers={"Content-Type": "text/plain"}))
    with pytest.raises(UserError, match=r"robots.txt of the site disallows .*\?page=1 for pressft$"):
        scrape(settings(site), tmp_path, log=lambda line: None)
    assert site.paths() == ["/robots.txt"]


def test_unreachable_robots_txt_stops_the_run(site, tmp_path):
    """RFC 9309: a server error on robots.txt means crawling is not allowed, so nothing else is requested."""
    publish(site, [invented(0)])
    site.route("/robots.txt", Reply(503, "invented outage"))
    with pytest.raises(UserError, match=r"cannot fetch .*/robots.txt: HTTP 503 after 1 retries"):
        scrape(settings(site, retries=1), tmp_path, log=lambda line: None)
    assert set(site.paths()) == {"/robots.txt"}


def test_fetch_stage_source_cleans_scraped_articles_and_keeps_failures(site, tmp_path, config):
    """Through read_source and clean_corpus, as the fetch stage runs it: failed pages are rejects with a reason."""
    from pressft.data.cleaning import clean_corpus
    from pressft.data.sources import read_source

    articles = [invented(i) for i in range(4)]
    articles[2]["paragraphs"] = articles[2]["paragraphs"] + [
        "In case of queries, please contact:", "Invented Person, Telephone: +00 000 000", "www.press.example.invalid"
    ]
    publish(site, articles)
    site.route(articles[3]["path"], Reply(500, "invented outage"))
    data = replace(config.data, source="pressclub", pressclub=settings(site, retries=0))
    raw, unreadable, info = read_source(data, tmp_path / "cache")
    kept, rejects, stripped = clean_corpus(raw, min_content_words=1, max_chars=10**6)
    assert [article["url"] for article in kept] == [site.base + a["path"] for a in articles[:3]]
    assert "please contact" not in kept[2]["content"] and stripped == {"contact block": 1}
    assert "fetched_at" not in kept[0]
    assert unreadable == [{"reason": "fetch failed", "detail": "HTTP 500",
                           "record": {"title": articles[3]["title"], "url": site.base + articles[3]["path"]}}]
    assert rejects == [] and info["new"] == 3 and info["failed"] == 1


def test_scrape_killed_with_sigkill_resumes_without_losing_or_refetching(site, tmp_path):
    import os
    import signal
    import subprocess
    import sys

    articles = [invented(i) for i in range(6)]
    publish(site, articles)
    site.route(articles[3]["path"], Reply(body=detail_html(articles[3]), delay=30))  # the run hangs here
    config = settings(site)
    code = (f"from pathlib import Path; from pressft.config import PressclubConfig; "
            f"from pressft.data.pressclub import scrape; scrape({config!r}, Path({str(tmp_path)!r}))")
    child = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 20
        while articles[3]["path"] not in site.paths() and time.monotonic() < deadline:
            time.sleep(0.05)
        assert articles[3]["path"] in site.paths(), "the child never reached the hanging page"
    finally:
        os.kill(child.pid, signal.SIGKILL)
        child.wait()
    assert len(cache_lines(tmp_path)) == 3  # everything fetched before the kill is on disk

    site.route(articles[3]["path"], Reply(body=detail_html(articles[3])))
    site.clear()
    records, failures, info = scrape(config, tmp_path, log=lambda line: None)
    assert failures == [] and (info["new"], info["cached"]) == (3, 3)
    assert site.paths(DETAIL_PREFIX) == [article["path"] for article in articles[3:]]
    assert without_time(records) == [expected(site.base, article) for article in articles]
