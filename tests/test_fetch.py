"""Bounded, guarded fetching against a real local HTTP server (no model needed).

Each hostile case (slow server, dripping server, redirect loop, 50 MB page, gzip bomb,
wrong type, private address) must end in a FetchError whose message says why, and
quickly: these are the reasons users will read, one line per failed item.
"""

from __future__ import annotations

import ipaddress
import re
import time
from collections.abc import Iterator

import pytest

from newsqa.addresses import AddressPolicy, address_kind
from newsqa.errors import SettingsError
from newsqa.fetch import FEED_TYPES, PAGE_TYPES, Fetched, Fetcher, FetchError, check_url, is_url
from newsqa.settings import Settings
from newsqa.web import feed_links, looks_like_feed, parse_feed

from .newssite import NewsSite, drip, huge, slow

MB = 1_000_000


@pytest.fixture(scope="module")
def site() -> Iterator[NewsSite]:
    with NewsSite() as server:
        yield server


def fetcher(**overrides: object) -> Fetcher:
    values: dict[str, object] = {"allow_private_urls": "1", **overrides}
    return Fetcher(Settings(**values))  # type: ignore[arg-type]


def refusal(url: str, accept: frozenset[str] = PAGE_TYPES, **settings: object) -> str:
    with fetcher(**settings) as f, pytest.raises(FetchError) as info:
        f.get(url, accept)
    message = str(info.value)
    assert "\n" not in message
    return message


def test_fetches_a_page_and_follows_a_redirect(site: NewsSite) -> None:
    page = site.put("/hello.html", "<html><body><p>Hello, reader.</p></body></html>")
    site.redirect("/moved", "/hello.html", status=301)
    with fetcher() as f:
        got = f.get(site.url("/moved"), PAGE_TYPES)
    assert (got.url, got.final_url, got.status) == (site.url("/moved"), page, 200)
    assert (got.media_type, got.charset) == ("text/html", "utf-8")
    assert b"Hello, reader." in got.content


def test_private_addresses_are_refused_unless_allowed(site: NewsSite) -> None:
    site.put("/private.html", "<p>intranet</p>")
    site.reset_counts()
    message = refusal(site.url("/private.html"), allow_private_urls="")
    assert message.startswith("refused: 127.0.0.1 is a loopback address")
    assert "NEWSQA_ALLOW_PRIVATE_URLS=1" in message
    # A host name is checked by every address it resolves to.
    by_name = refusal(f"http://localhost:{site.port}/private.html", allow_private_urls="")
    assert by_name.startswith("refused: localhost resolves to ") and "loopback" in by_name
    assert site.hits["/private.html"] == 0  # refused before connecting
    # Allowed: all (1), or a listed network.
    for allowed in ("1", "127.0.0.0/8"):
        with fetcher(allow_private_urls=allowed) as f:
            assert f.get(site.url("/private.html"), PAGE_TYPES).content == b"<p>intranet</p>"


def test_every_redirect_hop_is_checked(site: NewsSite) -> None:
    # 127.0.0.1 is allowed, 127.0.0.2 (loopback too, but not listed) is not: the first
    # hop is fetched, the redirect to the second address is refused at connect time.
    site.redirect("/to-other-host", f"http://127.0.0.2:{site.port}/secret")
    site.reset_counts()
    message = refusal(site.url("/to-other-host"), allow_private_urls="127.0.0.1/32")
    assert message.startswith("refused: 127.0.0.2 is a loopback address")
    assert site.hits["/to-other-host"] == 1 and site.hits["/secret"] == 0


def test_redirect_loop_and_redirect_cap(site: NewsSite) -> None:
    site.redirect("/loop-a", "/loop-b")
    site.redirect("/loop-b", "/loop-a")
    message = refusal(site.url("/loop-a"))
    assert message == (
        f"redirect loop: {site.url('/loop-a')} -> {site.url('/loop-b')} -> {site.url('/loop-a')}"
    )
    for i in range(10):
        site.redirect(f"/chain-{i}", f"/chain-{i + 1}")
    message = refusal(site.url("/chain-0"), max_redirects=3)
    assert message == f"more than 3 redirects (NEWSQA_MAX_REDIRECTS); last: {site.url('/chain-4')}"


def test_slow_server_times_out(site: NewsSite) -> None:
    site.behave("/slow", slow(5))
    t0 = time.monotonic()
    message = refusal(site.url("/slow"), fetch_timeout=0.5)
    assert message == "timed out: the server sent nothing for 0.5 s"
    assert time.monotonic() - t0 < 3


def test_dripping_server_is_cut_off_by_the_total_deadline(site: NewsSite) -> None:
    # Never silent for a whole timeout, so only the total deadline (3x) stops it.
    site.behave("/drip", drip(interval=0.1, total_s=20))
    t0 = time.monotonic()
    message = refusal(site.url("/drip"), fetch_timeout=0.5)
    assert message == "timed out: still downloading after 1.5 s"
    assert time.monotonic() - t0 < 4


@pytest.mark.parametrize("declare", [True, False], ids=["declared-length", "no-length"])
def test_a_50_mb_page_is_not_read_past_the_cap(site: NewsSite, declare: bool) -> None:
    path = f"/huge-{declare}.html"
    site.behave(path, huge(path, site, 50 * MB, declare=declare))
    message = refusal(site.url(path))
    if declare:  # refused from its headers, before reading any of it
        assert message == "the response is 50.0 MB, over the 20.0 MB limit (NEWSQA_MAX_FILE_BYTES)"
    else:
        assert message == (
            "the response is over the 20.0 MB limit (NEWSQA_MAX_FILE_BYTES); stopped reading it"
        )
    time.sleep(0.5)  # let the server notice the closed connection
    assert site.bytes_sent[path] < 30 * MB  # we hung up: the rest was never sent


def test_a_gzip_bomb_stops_at_the_cap_too(site: NewsSite) -> None:
    path = "/bomb.html"
    site.behave(path, huge(path, site, 50 * MB, declare=True, gzipped=True))
    assert site.bytes_sent[path] == 0
    message = refusal(site.url(path))
    assert message.endswith("over the 20.0 MB limit (NEWSQA_MAX_FILE_BYTES); stopped reading it")
    assert site.bytes_sent[path] < 1 * MB  # it really was a small download


def test_wrong_content_type_and_http_errors(site: NewsSite) -> None:
    site.put("/logo.png", b"\x89PNG\r\n\x1a\n", content_type="image/png")
    assert refusal(site.url("/logo.png")) == "content type image/png is not a web page"
    site.put("/page-not-feed", "<p>x</p>")
    assert refusal(site.url("/page-not-feed"), FEED_TYPES) == (
        "content type text/html is not a feed"
    )
    assert refusal(site.url("/nowhere")) == "HTTP 404 Not Found"
    site.put("/broken", "oops", status=500)
    assert refusal(site.url("/broken")) == "HTTP 500 Internal Server Error"


def test_nothing_listening_and_unknown_hosts(site: NewsSite) -> None:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # closed again: nothing listens there
    message = refusal(f"http://127.0.0.1:{port}/")
    assert message.startswith("could not connect (") and "refused" in message.lower()
    message = refusal("http://no-such-host.invalid/")
    assert message.startswith("cannot find the host no-such-host.invalid")


@pytest.mark.parametrize(
    ("url", "reason"),
    [
        ("ftp://example.com/feed", "only http and https URLs can be fetched, not ftp"),
        ("file:///etc/passwd", "only http and https URLs can be fetched, not file"),
        ("http://", "the URL has no host name"),
        ("http://example.com:99999/", "not a valid URL (Port out of range 0-65535)"),
        ("http://exa mple.com/", "the URL contains spaces or control characters"),
    ],
)
def test_bad_urls_are_refused_before_any_connection(url: str, reason: str) -> None:
    assert is_url(url)
    with pytest.raises(FetchError) as info:
        check_url(url)
    assert str(info.value) == reason


def test_is_url_tells_urls_from_paths() -> None:
    assert is_url("https://example.com/a") and is_url("HTTP://x")
    assert not is_url("seeds/") and not is_url("C:\\news\\a.txt") and not is_url("a:b")


@pytest.mark.parametrize(
    ("address", "kind"),
    [
        ("127.0.0.1", "a loopback address"),
        ("::1", "a loopback address"),
        ("::ffff:127.0.0.1", "a loopback address"),  # IPv4-mapped
        ("2002:7f00:1::", "a loopback address"),  # 6to4 of 127.0.0.1
        ("64:ff9b::7f00:1", "a loopback address"),  # NAT64 of 127.0.0.1
        ("10.1.2.3", "a private address"),
        ("192.168.0.1", "a private address"),
        ("fd00::1", "a private address"),
        ("169.254.169.254", "a link-local address"),  # cloud metadata services
        ("fe80::1", "a link-local address"),
        ("100.64.0.1", "a shared address"),
        ("0.0.0.0", "an unspecified address"),
        ("224.0.0.1", "a multicast address"),
        ("93.184.215.14", None),
        ("2606:4700::1111", None),
    ],
)
def test_address_kinds(address: str, kind: str | None) -> None:
    assert address_kind(ipaddress.ip_address(address)) == kind


def test_address_policy_setting() -> None:
    assert AddressPolicy.parse("1").allow_all and AddressPolicy.parse("true").allow_all
    assert AddressPolicy.parse("") == AddressPolicy() == AddressPolicy.parse("0")
    policy = AddressPolicy.parse("10.1.0.0/16, 192.168.1.5")
    assert policy.refusal("intranet", "10.1.200.3") is None
    assert policy.refusal("router", "192.168.1.5") is None
    assert "a private address" in (policy.refusal("other", "10.2.0.1") or "")
    assert policy.refusal("example.com", "93.184.215.14") is None
    bad = re.escape("'10.0.0.0/33' is not an IP address or network")
    # One line, naming the setting once (newsqa.errors.SettingsError).
    with pytest.raises(
        SettingsError, match=f"^allow_private_urls \\(NEWSQA_ALLOW_PRIVATE_URLS\\): {bad}"
    ):
        Settings(allow_private_urls="10.0.0.0/33")


# -- feeds: parsing what was fetched -------------------------------------------------


def as_fetched(body: str | bytes, media_type: str = "application/rss+xml") -> Fetched:
    data = body.encode("utf-8") if isinstance(body, str) else body
    return Fetched(
        "http://news.example/feed", "http://news.example/feed", 200, media_type, None, data
    )


RSS_HEAD = "<?xml version='1.0'?><rss version='2.0'><channel><title>News &amp; more</title>"


def test_a_sloppy_but_complete_feed_is_read() -> None:
    # A bare "&" and an HTML entity are not XML, but common: every item is whole.
    feed = parse_feed(
        as_fetched(
            "<?xml version='1.0'?><rss version='2.0'><channel><title>Sloppy&nbsp;feed</title>"
            "<item><title>Rates & prices</title><link>/a?x=1&y=2</link></item>"
            "<item><title>Second</title><link>http://news.example/b</link><guid>b-1</guid></item>"
            "<item><title>Second again</title><link>http://news.example/b2</link><guid>b-1</guid></item>"
            "</channel></rss>"
        )
    )
    assert feed.title == "Sloppy feed"
    # Relative links (and guids, permalinks by default) resolve against the feed's
    # URL; a repeated guid is one item.
    assert [(i.key, i.link) for i in feed.items] == [
        ("http://news.example/a?x=1&y=2", "http://news.example/a?x=1&y=2"),
        ("http://news.example/b-1", "http://news.example/b"),
    ]


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        (RSS_HEAD + "<item><title>Cut off", "line 1, column 116: no element found"),
        ("<html><body><h1>Maintenance</h1></body></html>", "no RSS or Atom root element"),
        (b"\x00\x01 garbage \xff", "line 2, column 0: not well-formed (invalid token)"),
    ],
    ids=["truncated", "html", "binary"],
)
def test_a_malformed_feed_is_refused_with_its_reason(body: str | bytes, reason: str) -> None:
    with pytest.raises(FetchError) as info:
        parse_feed(as_fetched(body))
    assert str(info.value) == f"not a valid RSS or Atom feed ({reason})"


@pytest.mark.parametrize(
    ("stamp", "day"),
    [
        ("<pubDate>Mon, 06 Mar 2017 21:30:00 -0500</pubDate>", "2017-03-06"),  # RSS
        ("<pubDate>Tue, 07 Mar 2017 02:30:00 GMT</pubDate>", "2017-03-07"),
        ("<dc:date>2017-03-06T21:30:00-05:00</dc:date>", "2017-03-06"),  # ISO, own zone
        ("", None),
    ],
)
def test_an_items_date_is_the_publishers_day(stamp: str, day: str | None) -> None:
    feed = parse_feed(
        as_fetched(
            "<?xml version='1.0'?><rss version='2.0' xmlns:dc='http://purl.org/dc/elements/1.1/'>"
            f"<channel><title>T</title><item><title>A</title><link>http://x.example/a</link>{stamp}"
            "</item></channel></rss>"
        )
    )
    assert feed.items[0].date == day


def test_a_page_announces_its_feed() -> None:
    page = as_fetched(
        "<html><head><link rel='alternate' type='application/atom+xml' href='/atom.xml'>"
        "<link rel='stylesheet' href='/s.css'></head><body></body></html>",
        "text/html",
    )
    assert not looks_like_feed(page)
    assert feed_links(page) == ["http://news.example/atom.xml"]
    assert looks_like_feed(as_fetched("<?xml version='1.0'?><feed/>", "text/plain"))
