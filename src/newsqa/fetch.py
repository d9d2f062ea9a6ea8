"""Fetching pages and feeds over HTTP, within bounds.

Every fetch is limited, because the other end may be slow, huge or hostile:

- time: ``NEWSQA_FETCH_TIMEOUT`` seconds to connect and for each wait for data, and
  three times that for the whole fetch (a server that drips a byte at a time is cut
  off too);
- size: the body is streamed and reading stops past ``NEWSQA_MAX_FILE_BYTES``
  (decompressed, so a gzip bomb stops there too); a larger declared length is
  refused before reading;
- redirects: followed by hand, at most ``NEWSQA_MAX_REDIRECTS``, a loop named as one;
- content type: only the types the caller accepts (web pages, feeds);
- addresses: each connection, on every redirect hop, resolves the host itself and
  refuses it if any of its addresses is loopback, private or link-local (see
  :mod:`newsqa.addresses`), then connects to an address it checked, so a name that
  resolves differently the second time cannot slip through.

Nothing here reads the environment: no proxies, no ``.netrc``, no system-wide
settings: a fetch goes where the URL says, or nowhere.
"""

from __future__ import annotations

import socket
import time
from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass
from importlib.metadata import version
from urllib.parse import urlsplit

import httpcore
import httpx

from newsqa.addresses import AddressPolicy
from newsqa.errors import NewsQAError
from newsqa.settings import Settings

HTML_TYPES = frozenset({"text/html", "application/xhtml+xml"})
TEXT_TYPES = frozenset({"text/plain", "text/markdown"})
FEED_TYPES = frozenset(
    {
        "application/rss+xml",
        "application/atom+xml",
        "application/rdf+xml",
        "application/x-rss+xml",
        "application/xml",
        "text/xml",
    }
)
PAGE_TYPES = HTML_TYPES | TEXT_TYPES
TOTAL_TIMEOUT_FACTOR = 3  # a whole fetch may take this many times NEWSQA_FETCH_TIMEOUT


class FetchError(NewsQAError, ValueError):
    """A URL that could not be fetched; ``str(e)`` is a one-line reason for users."""


@dataclass(frozen=True)
class Fetched:
    """A response that passed every check."""

    url: str  # as asked for
    final_url: str  # after redirects
    status: int  # 200..299, or 304 for a conditional request with nothing new
    media_type: str  # "text/html"; "" when the server sent none
    charset: str | None
    content: bytes
    etag: str = ""
    last_modified: str = ""

    @property
    def not_modified(self) -> bool:
        return self.status == 304

    def text_bytes(self) -> bytes:
        """The body as UTF-8 when the server named another charset, else as sent."""
        charset = (self.charset or "").lower()
        if charset in ("", "utf-8", "utf8"):
            return self.content
        try:
            return self.content.decode(charset, errors="replace").encode("utf-8")
        except LookupError:  # a charset Python does not know: let the parser guess
            return self.content


def _size(n: int) -> str:
    return f"{n / 1e6:.1f} MB" if n >= 1_000_000 else f"{n / 1e3:.1f} kB"


def one_line(text: str) -> str:
    return " ".join(str(text).split())


def is_url(text: str) -> bool:
    """True for anything written as ``scheme://...``: a URL, even one we cannot fetch."""
    scheme, sep, _ = text.partition("://")
    return bool(sep) and scheme.isascii() and scheme.replace("+", "").isalnum()


def check_url(url: str) -> str:
    """``url`` stripped, if it is an http(s) URL with a host; FetchError otherwise."""
    url = url.strip()
    if any(not ch.isprintable() or ch.isspace() for ch in url):
        raise FetchError("the URL contains spaces or control characters")
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018  (raises ValueError for a bad port)
    except ValueError as exc:
        raise FetchError(f"not a valid URL ({exc})") from None
    if parts.scheme.lower() not in ("http", "https"):
        raise FetchError(f"only http and https URLs can be fetched, not {parts.scheme or 'this'}")
    if not parts.hostname:
        raise FetchError("the URL has no host name")
    return url


class _GuardedBackend(httpcore.SyncBackend):
    """Opens connections only to addresses the policy allows, checked at connect time."""

    def __init__(self, policy: AddressPolicy) -> None:
        self.policy = policy

    def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[httpcore.SOCKET_OPTION] | None = None,
    ) -> httpcore.NetworkStream:
        try:
            found = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
        except (socket.gaierror, UnicodeError) as exc:
            reason = exc.strerror if isinstance(exc, socket.gaierror) else str(exc)
            raise FetchError(f"cannot find the host {host} ({reason})") from None
        addresses = list(dict.fromkeys(str(info[4][0]) for info in found))
        # Every address, not just the first: the connection may fall through to any.
        for address in addresses:
            if reason := self.policy.refusal(host, address):
                raise FetchError(reason)
        failure: Exception | None = None
        for address in addresses:
            try:
                return super().connect_tcp(address, port, timeout, local_address, socket_options)
            except (httpcore.ConnectError, httpcore.ConnectTimeout) as exc:
                failure = exc
        raise failure or httpcore.ConnectError(f"no address for {host}")


def _transport(policy: AddressPolicy) -> httpx.HTTPTransport:
    transport = httpx.HTTPTransport(trust_env=False)
    # httpx has no parameter for the network backend, but its pool takes one: swap the
    # pool (still empty) for one that connects through the guard. Pinned httpx <0.29.
    transport._pool.close()
    transport._pool = httpcore.ConnectionPool(
        ssl_context=httpx.create_ssl_context(trust_env=False),
        max_connections=20,
        max_keepalive_connections=10,
        keepalive_expiry=5.0,
        network_backend=_GuardedBackend(policy),
    )
    return transport


def _describe(exc: httpx.HTTPError, timeout: float) -> str:
    if isinstance(exc, httpx.ConnectTimeout):
        return f"timed out: no connection within {timeout:g} s"
    if isinstance(exc, httpx.TimeoutException):
        return f"timed out: the server sent nothing for {timeout:g} s"
    if isinstance(exc, httpx.ConnectError):
        return f"could not connect ({one_line(str(exc)) or 'connection failed'})"
    if isinstance(exc, httpx.RemoteProtocolError):
        return f"the server broke off the response ({one_line(str(exc))})"
    if isinstance(exc, httpx.DecodingError):
        return f"the response could not be decompressed ({one_line(str(exc))})"
    return f"could not fetch ({type(exc).__name__}: {one_line(str(exc))})"


class Fetcher:
    """An HTTP client with newsqa's limits; one per batch of URLs, safe across threads."""

    def __init__(self, settings: Settings) -> None:
        self.timeout = settings.fetch_timeout
        self.max_bytes = settings.max_file_bytes
        self.max_redirects = settings.max_redirects
        self.client = httpx.Client(
            transport=_transport(AddressPolicy.parse(settings.allow_private_urls)),
            timeout=httpx.Timeout(settings.fetch_timeout),
            follow_redirects=False,
            trust_env=False,
            headers={"User-Agent": f"newsqa/{version('newsqa')} (news reader)"},
        )

    def __enter__(self) -> Fetcher:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self.client.close()

    def get(
        self, url: str, accept: Collection[str], headers: Mapping[str, str] | None = None
    ) -> Fetched:
        """GET ``url``, following redirects; FetchError says why it cannot be had.

        ``accept`` is the set of media types wanted; a response without a
        Content-Type passes (the parser decides). ``headers`` go with every hop
        (e.g. If-None-Match); a 304 comes back as ``not_modified``.
        """
        asked = current = check_url(url)
        hops = [current]
        deadline = time.monotonic() + TOTAL_TIMEOUT_FACTOR * self.timeout
        request_headers = {"Accept": ", ".join(sorted(accept)), **(headers or {})}
        while True:
            try:
                with self.client.stream("GET", current, headers=request_headers) as response:
                    # A 3xx without a Location (304 Not Modified) is not a redirect.
                    if not response.has_redirect_location:
                        return self._take(asked, response, accept, deadline)
                    target = str(response.url.join(response.headers["location"].strip()))
            except httpx.HTTPError as exc:
                raise FetchError(_describe(exc, self.timeout)) from None
            except httpx.InvalidURL as exc:
                raise FetchError(f"not a valid URL ({one_line(str(exc))})") from None
            current = check_url(target)
            if current in hops:
                loop = " -> ".join([*hops[hops.index(current) :], current])
                raise FetchError(f"redirect loop: {loop}")
            hops.append(current)
            if len(hops) - 1 > self.max_redirects:
                raise FetchError(
                    f"more than {self.max_redirects} redirects (NEWSQA_MAX_REDIRECTS); "
                    f"last: {current}"
                )

    def _take(
        self, asked: str, response: httpx.Response, accept: Collection[str], deadline: float
    ) -> Fetched:
        """Check the status, type and size of a final response and read its body."""
        status = response.status_code
        if status != 304 and not response.is_success:
            raise FetchError(f"HTTP {status} {response.reason_phrase}".rstrip())
        media_type = response.headers.get("content-type", "").split(";")[0].strip().lower()
        if status != 304 and media_type and media_type not in accept:
            wanted = "a feed" if set(accept) <= FEED_TYPES else "a web page"
            raise FetchError(f"content type {media_type} is not {wanted}")
        declared = response.headers.get("content-length", "")
        limit = f"over the {_size(self.max_bytes)} limit (NEWSQA_MAX_FILE_BYTES)"
        if declared.isdigit() and int(declared) > self.max_bytes:
            raise FetchError(f"the response is {_size(int(declared))}, {limit}")
        chunks: list[bytes] = []
        size = 0
        for chunk in response.iter_bytes():
            size += len(chunk)
            if size > self.max_bytes:
                raise FetchError(f"the response is {limit}; stopped reading it")
            if time.monotonic() > deadline:
                total = TOTAL_TIMEOUT_FACTOR * self.timeout
                raise FetchError(f"timed out: still downloading after {total:g} s")
            chunks.append(chunk)
        return Fetched(
            url=asked,
            final_url=str(response.url),
            status=status,
            media_type=media_type,
            charset=response.charset_encoding,
            content=b"".join(chunks),
            etag=response.headers.get("etag", ""),
            last_modified=response.headers.get("last-modified", ""),
        )
