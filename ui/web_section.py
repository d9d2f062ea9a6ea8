"""The sidebar's "Add a link or a feed" section of the app.

One box takes a URL: a feed is followed (its items are added, and "Refresh feeds"
adds the new ones later); any other page is added as one article. Progress shows
while pages download, and each page or item gets a line saying what became of it.
The logic is :class:`newsqa.feeds.Feeds`; this module only draws it.
"""

from __future__ import annotations

import html
import time

import streamlit as st
from newsqa_ui import FileOutcome, describe_source, escape_markdown, result_line

from newsqa import NewsQA
from newsqa.feeds import FeedInfo, FeedResult, Feeds
from newsqa.text import plural


def _feeds(qa: NewsQA) -> Feeds:
    # NewsQA's own gate makes the ingest exclusive; pages download outside it, so
    # questions from other tabs wait for at most one write.
    return Feeds(qa)


def followed_html(feeds: list[FeedInfo]) -> str:
    """The followed feeds as an escaped list: title, items, last refresh."""
    rows = []
    for feed in feeds:
        when = (
            time.strftime("%d %b %H:%M", time.localtime(feed.refreshed_at))
            if feed.refreshed_at
            else "never"
        )
        problem = (
            f'<div class="nqa-lib-meta">last refresh failed: {html.escape(feed.error)}</div>'
            if feed.error
            else ""
        )
        rows.append(
            '<li class="nqa-lib-item nqa-feed">'
            f'<div class="nqa-lib-title" title="{html.escape(feed.url)}">'
            f"{html.escape(feed.title)}</div>"
            f'<div class="nqa-lib-meta">{plural(feed.items, "item")}'
            f"{f', {feed.failed} failed' if feed.failed else ''} · refreshed {when}</div>"
            f"{problem}</li>"
        )
    return f'<ul class="nqa-lib">{"".join(rows)}</ul>'


def summary_line(result: FeedResult) -> str:
    """What adding or refreshing one URL did, in one plain-text line."""
    name = f"“{result.title}”" if result.title else result.url
    if result.error:
        return f"{result.url}: {result.error}"
    report = result.report
    counts = f"{report.count('added')} added, {report.count('replaced')} updated"
    if report.failed:
        counts += f", {len(report.failed)} failed"
    return {
        "followed": f"Following {name}: {counts}",
        "already followed": f"Already following {name}",
        "not modified": f"{name}: nothing new",
        "page": "",
    }.get(result.status, f"{name}: {counts}")


def _run(action: str, qa: NewsQA, url: str = "") -> None:
    """Add ``url`` or refresh every feed, with a progress bar; keep the results."""
    bar = st.progress(0.0, text="Starting…")

    def on_progress(done: int, total: int, label: str) -> None:
        # ``total`` grows once the feed is read and its items are known.
        bar.progress(min(done / max(total, 1), 1.0), text=f"Fetching: {done} of {total} done")

    feeds = _feeds(qa)
    try:
        if action == "add":
            results = [feeds.add_link(url, on_progress=on_progress)]
        else:
            results = feeds.refresh(on_progress=on_progress)
    except Exception as exc:  # the store failed: say so where the results go
        results = [
            FeedResult(url or "feeds", status="failed", error=f"{type(exc).__name__}: {exc}")
        ]
    st.session_state.web_results = results
    st.rerun()  # so the library list and the pickers show the new articles


def _unfollow(qa: NewsQA) -> None:
    """Stop following the chosen feed (a callback: the next run lists it no more)."""
    url = st.session_state.get("unfollow_choice")
    if not url:
        return
    try:
        removed = _feeds(qa).remove(url)
        result = (
            FeedResult(url, removed.title, status="removed")
            if removed
            else FeedResult(url, status="removed", error="it was not followed (any more)")
        )
    except Exception as exc:  # the store failed
        result = FeedResult(url, status="removed", error=f"{type(exc).__name__}: {exc}")
    st.session_state.web_results = [result]
    st.session_state.unfollow_choice = None


def web_section(qa: NewsQA) -> None:
    """Paste a link or a feed; follow, refresh and stop following feeds."""
    st.session_state.setdefault("web_results", [])
    with st.expander("Add a link or a feed", icon=":material/rss_feed:"):
        with st.form("web_add", clear_on_submit=True, border=False):
            url = st.text_input(
                "Web page or feed URL",
                placeholder="https://…",
                key="web_url",
                help="A feed (RSS or Atom) is followed: its items are added now, and new "
                "ones each time you refresh. Any other page is added as one article.",
            )
            add = st.form_submit_button("Add", type="primary", width="stretch")
        if add and url.strip():
            _run("add", qa, url.strip())
        elif add:
            st.warning("Paste a URL first.")
        show_web_results()
        followed = _feeds(qa).followed()
        if followed:
            st.caption(f"Following {plural(len(followed), 'feed')}")
            st.html(followed_html(followed))
            if st.button("Refresh feeds", icon=":material/refresh:", width="stretch"):
                _run("refresh", qa)
            choice = st.selectbox(
                "Stop following",
                [f.url for f in followed],
                format_func=lambda u: next(f.title for f in followed if f.url == u),
                index=None,
                placeholder="Choose a feed",
                key="unfollow_choice",
            )
            st.button(
                "Stop following",
                on_click=_unfollow,
                args=(qa,),
                key="unfollow",
                disabled=choice is None,
                width="stretch",
                help="Its articles stay in the library.",
            )


def show_web_results() -> None:
    results: list[FeedResult] = st.session_state.web_results
    if not results:
        return
    for result in results:
        if result.status == "removed":
            if result.error:
                st.error(escape_markdown(f"Could not stop following {result.url}: {result.error}"))
            else:
                st.info(escape_markdown(f"Stopped following “{result.title}”."))
            continue
        line = summary_line(result)
        if result.error:
            st.error(f"**Not added:** {escape_markdown(line)}", icon=":material/error:")
        elif line:
            st.success(escape_markdown(line), icon=":material/rss_feed:")
        # A stored article is named by its site; a failed item by its whole link.
        items = [
            FileOutcome(r.source if r.status == "failed" else describe_source(r.source), r)
            for r in result.report.results
        ]
        stored = [escape_markdown(result_line(o)) for o in items if not o.failed]
        if stored:
            st.success("\n".join(f"- {s}" for s in stored), icon=":material/check_circle:")
        for outcome in (o for o in items if o.failed):
            st.error(
                f"**Not added:** {escape_markdown(result_line(outcome))}", icon=":material/error:"
            )
    st.button(
        "Dismiss",
        on_click=lambda: st.session_state.update(web_results=[]),
        key="dismiss_web_results",
        type="tertiary",
    )
