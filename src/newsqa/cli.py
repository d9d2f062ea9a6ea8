"""The ``newsqa`` command line: ingest, ask, chat, manage the library.

Thin: every command calls :class:`newsqa.NewsQA`. Modules load when a command
needs them, so ``newsqa articles list`` never loads a model. :func:`run` is the
entry point: it sets up the process (:mod:`newsqa.runtime`) and turns every
:class:`~newsqa.errors.NewsQAError` into one ``error:`` line and exit code 1.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from newsqa.errors import GenerativeSetupError, NewsQAError, QuestionError, SettingsError
from newsqa.runtime import configure_process
from newsqa.settings import Settings

if TYPE_CHECKING:
    from newsqa.feeds import FeedResult, Feeds
    from newsqa.models import Answer, IngestReport
    from newsqa.qa import NewsQA


def _settings(ctx: click.Context) -> Settings:
    overrides: dict[str, Any] = {k: v for k, v in ctx.obj.items() if v is not None}
    try:
        return Settings().with_overrides(**overrides)
    except SettingsError as exc:
        raise click.UsageError(f"bad setting: {exc}") from exc


def _qa(ctx: click.Context) -> NewsQA:
    from newsqa.qa import NewsQA

    if "qa" not in ctx.meta:
        settings = _settings(ctx)
        configure_process(settings.data_dir, local_llm=settings.llm_gguf is not None)
        ctx.meta["qa"] = NewsQA(settings)
    qa: NewsQA = ctx.meta["qa"]
    return qa


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.option(
    "--data-dir",
    type=click.Path(file_okay=False, path_type=Path),
    help="Library folder [env NEWSQA_DATA_DIR].",
)
@click.option(
    "--chroma-url", help="Use a Chroma server, e.g. http://127.0.0.1:8000 [env NEWSQA_CHROMA_URL]."
)
@click.option("--collection", help="Collection name [env NEWSQA_COLLECTION].")
@click.version_option(package_name="newsqa")
@click.pass_context
def main(
    ctx: click.Context, data_dir: Path | None, chroma_url: str | None, collection: str | None
) -> None:
    """Ask questions about news articles; every answer cites its sentences."""
    ctx.obj = {"data_dir": data_dir, "chroma_url": chroma_url, "collection": collection}


def print_report(report: IngestReport) -> None:
    for result in report.results:
        if result.status == "failed":
            click.secho(f"failed    {result.source}: {result.error}", fg="red", err=True)
        elif result.status != "unchanged":
            click.echo(f"{result.status:<9} {result.source} ({result.passages} passages)")
    click.echo(report.summary())


@main.command()
@click.argument("sources", nargs=-1, required=True)
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON.")
@click.pass_context
def ingest(ctx: click.Context, sources: tuple[str, ...], as_json: bool) -> None:
    """Add articles from files and folders (.txt .md .html .json .jsonl), web pages
    and feeds (http:// or https:// URLs: a feed's items are added once; `newsqa feeds
    add` follows it)."""
    from newsqa.fetch import is_url
    from newsqa.models import IngestReport

    paths = [Path(s) for s in sources if not is_url(s)]
    urls = [s for s in sources if is_url(s)]
    report = _qa(ctx).ingest(paths, progress=not as_json) if paths else IngestReport()
    if urls:
        from newsqa.web import ingest_urls

        web = ingest_urls(_qa(ctx), urls, progress=not as_json)
        report.results += web.results
    if as_json:
        click.echo(json.dumps(report.to_dict(), indent=2, ensure_ascii=False))
    else:
        print_report(report)
    ctx.exit(0 if report.ok else 1)


def print_answer(answer: Answer) -> None:
    click.echo(answer.text)
    if answer.disagreement:
        said = "; ".join(f"{r.value} [{r.n}]" for r in answer.disagreement)
        click.secho(f"sources differ: {said}", fg="yellow")
    if answer.confidence is not None:
        note = " (low: check the sources)" if answer.low_confidence else ""
        click.secho(
            f"confidence {answer.confidence:.2f}{note}", dim=not note, fg="yellow" if note else None
        )
    if answer.citations:
        click.echo()
        for c in answer.citations:
            when = f", {c.date}" if c.date else ""
            check = "" if c.verified else " (unverified)"
            click.echo(f"[{c.n}] {c.title}{when} ({c.source}, chars {c.start}-{c.end}){check}")


def _filters(options: dict[str, Any]) -> dict[str, Any]:
    return {
        "k": options.get("k"),
        "date_from": options.get("date_from"),
        "date_to": options.get("date_to"),
        "article_ids": list(options["article"]) if options.get("article") else None,
        "mode": options.get("mode"),
    }


_ask_options = [
    click.option("-k", type=click.IntRange(1, 100), help="Passages to retrieve."),
    click.option("--from", "date_from", help="Only articles dated on or after YYYY-MM-DD."),
    click.option("--to", "date_to", help="Only articles dated on or before YYYY-MM-DD."),
    click.option("--article", multiple=True, help="Only this article id (repeatable)."),
    click.option("--mode", type=click.Choice(["extractive", "generative"]), help="Answer mode."),
]


def ask_options(func: Any) -> Any:
    for option in reversed(_ask_options):
        func = option(func)
    return func


@main.command()
@click.argument("question")
@click.option("--json", "as_json", is_flag=True, help="Print Answer.to_dict() as JSON.")
@ask_options
@click.pass_context
def ask(ctx: click.Context, question: str, as_json: bool, **options: Any) -> None:
    """Answer one QUESTION with its sources."""
    try:
        answer = _qa(ctx).ask(question, **_filters(options))
    except QuestionError as exc:
        raise click.UsageError(str(exc)) from exc
    if as_json:
        click.echo(json.dumps(answer.to_dict(), indent=2, ensure_ascii=False))
    else:
        print_answer(answer)


@main.command()
@ask_options
@click.pass_context
def chat(ctx: click.Context, **options: Any) -> None:
    """Interactive chat; follow-up questions use the conversation so far."""
    qa = _qa(ctx)
    history: list[tuple[str, str]] = []
    click.echo("Ask about your articles. Empty line or Ctrl-D to quit, /new to start over.")
    while True:
        try:
            question = click.prompt("you", prompt_suffix="> ", default="", show_default=False)
        except (EOFError, click.Abort):
            break
        if not question.strip():
            break
        if question.strip() == "/new":
            history.clear()
            continue
        try:
            if (options.get("mode") or qa.settings.answer_mode) == "generative":
                answer = stream_answer(qa, question, history, options)
            else:
                answer = qa.ask(question, history, **_filters(options))
        except QuestionError as exc:
            click.secho(str(exc), fg="red")
            continue
        print_answer(answer)
        click.echo()
        history.append((question, answer.text))


def stream_answer(
    qa: NewsQA, question: str, history: list[tuple[str, str]], options: dict[str, Any]
) -> Answer:
    """Show the model's draft, dimmed, as it is generated; return the checked answer.

    The draft is what the model wrote; the answer printed after it is what survived
    the sentence check, with citations renumbered to exact source sentences.
    """
    answer: Answer | None = None
    drafted = False
    try:
        for item in qa.ask_stream(question, history, **_filters(options)):
            if isinstance(item, str):
                click.secho(item, nl=False, dim=True)
                drafted = True
            else:
                answer = item
    except GenerativeSetupError as exc:
        raise click.ClickException(str(exc)) from exc
    if drafted:
        click.echo("\n")
    assert answer is not None  # ask_stream always ends with the Answer
    return answer


@main.group()
def articles() -> None:
    """List or remove articles in the library."""


@articles.command("list")
@click.option("--json", "as_json", is_flag=True)
@click.pass_context
def articles_list(ctx: click.Context, as_json: bool) -> None:
    """List the articles: id, date, passages, title."""
    infos = _qa(ctx).articles()
    if as_json:
        click.echo(json.dumps([vars(i) for i in infos], indent=2, ensure_ascii=False))
        return
    for info in infos:
        click.echo(f"{info.id}  {info.date or '----------'}  {info.passages:>4}  {info.title}")
    click.echo(f"{len(infos)} articles")


@articles.command("remove")
@click.argument("article_ids", nargs=-1, required=True)
@click.pass_context
def articles_remove(ctx: click.Context, article_ids: tuple[str, ...]) -> None:
    """Remove articles (and their passages) by id."""
    missing = [a for a in article_ids if not _qa(ctx).remove(a)]
    for article_id in missing:
        click.secho(f"no article with id {article_id}", fg="red", err=True)
    ctx.exit(1 if missing else 0)


@main.group()
def feeds() -> None:
    """Follow RSS and Atom feeds: each refresh adds the items not seen before."""


def _feeds(ctx: click.Context) -> Feeds:
    from newsqa.feeds import Feeds

    return Feeds(_qa(ctx))


def _print_feed_result(result: FeedResult) -> None:
    """One feed's outcome: a heading, a line per item that changed or failed, a summary."""
    if result.error:
        click.secho(f"failed    {result.url}: {result.error}", fg="red", err=True)
        return
    name = f"{result.title} ({result.url})" if result.title else result.url
    heading = {
        "followed": f"Following {name}",
        "already followed": f"Already following {name}",
        "not modified": f"{name}: not changed since the last refresh",
        "page": f"Added the page {result.url}",
    }.get(result.status, name)
    click.secho(heading, bold=True)
    if result.status in ("followed", "refreshed", "page"):
        print_report(result.report)


@feeds.command("add")
@click.argument("url")
@click.option("--new-only", is_flag=True, help="Add none of the items listed now, only later ones.")
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")
@click.pass_context
def feeds_add(ctx: click.Context, url: str, new_only: bool, as_json: bool) -> None:
    """Follow the feed at URL (or the feed a web page links to) and add its items."""
    result = _feeds(ctx).add(url, new_only=new_only, progress=not as_json)
    if as_json:
        click.echo(json.dumps(result.to_dict(), indent=2, ensure_ascii=False))
    else:
        _print_feed_result(result)
    ctx.exit(0 if result.ok else 1)


@feeds.command("list")
@click.option("--json", "as_json", is_flag=True)
@click.pass_context
def feeds_list(ctx: click.Context, as_json: bool) -> None:
    """List the followed feeds: items added, last refresh, title and URL."""
    import time

    infos = _feeds(ctx).followed()
    if as_json:
        click.echo(json.dumps([i.to_dict() for i in infos], indent=2, ensure_ascii=False))
        return
    for info in infos:
        when = (
            "never"
            if not info.refreshed_at
            else time.strftime("%Y-%m-%d %H:%M", time.localtime(info.refreshed_at))
        )
        failed = f", {info.failed} failed" if info.failed else ""
        click.echo(f"{info.title}\n  {info.url}\n  {info.items} items{failed}, refreshed {when}")
        if info.error:
            click.secho(f"  last refresh failed: {info.error}", fg="red")
    click.echo(f"{len(infos)} feeds")


@feeds.command("refresh")
@click.argument("urls", nargs=-1)
@click.option("--json", "as_json", is_flag=True, help="Print the results as JSON.")
@click.pass_context
def feeds_refresh(ctx: click.Context, urls: tuple[str, ...], as_json: bool) -> None:
    """Fetch the followed feeds (or only URLS) and add their new items.

    Exits with 1 when a feed or an item failed; each failure is one line saying why.
    """
    results = _feeds(ctx).refresh(list(urls) or None, progress=not as_json)
    if as_json:
        click.echo(json.dumps([r.to_dict() for r in results], indent=2, ensure_ascii=False))
    else:
        for result in results:
            _print_feed_result(result)
        if not results:
            click.echo("No feeds followed: add one with `newsqa feeds add URL`.")
    ctx.exit(0 if all(r.ok for r in results) else 1)


@feeds.command("remove")
@click.argument("urls", nargs=-1, required=True)
@click.option("--delete-articles", is_flag=True, help="Also remove the articles the feed added.")
@click.pass_context
def feeds_remove(ctx: click.Context, urls: tuple[str, ...], delete_articles: bool) -> None:
    """Stop following feeds (their articles stay unless --delete-articles)."""
    library = _feeds(ctx)
    missing = 0
    for url in urls:
        removed = library.remove(url, delete_articles=delete_articles)
        if removed is None:
            click.secho(f"not a followed feed: {url}", fg="red", err=True)
            missing += 1
            continue
        gone = f"; removed {removed.articles_removed} articles" if delete_articles else ""
        click.echo(f"Stopped following {removed.title} ({removed.url}){gone}")
    ctx.exit(1 if missing else 0)


@main.command("eval")
@click.argument("path", type=click.Path(exists=True, path_type=Path))
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["own", "squad", "beir"]),
    help="Question-set format [default: from PATH: .jsonl own, .json SQuAD, folder BEIR].",
)
@click.option(
    "--corpus",
    multiple=True,
    type=click.Path(exists=True, path_type=Path),
    help="Articles an own-format set is about (repeatable) [default: nearest seeds/].",
)
@click.option("--split", help="BEIR qrels split [default: test, or the only one there].")
@click.option("--json", "as_json", is_flag=True, help="Print the metrics as JSON.")
@click.option(
    "--report",
    "report_dir",
    type=click.Path(file_okay=False, path_type=Path),
    help="Write summary.md, report.json and a PNG per metric group here.",
)
@click.option("--baseline", is_flag=True, help="Also run the plain LangChain recipe.")
@click.option("--limit", type=click.IntRange(1), help="Ask only the first N questions.")
@click.option("-k", type=click.IntRange(1, 100), help="Passages given to the answerer.")
@click.pass_context
def eval_command(
    ctx: click.Context,
    path: Path,
    fmt: str | None,
    corpus: tuple[Path, ...],
    split: str | None,
    as_json: bool,
    report_dir: Path | None,
    baseline: bool,
    limit: int | None,
    k: int | None,
) -> None:
    """Score newsqa on the question set at PATH, in a temporary store.

    Retrieval, answers, citations, refusals and latency; --baseline shows the plain
    LangChain recipe beside it. Your library is never touched.
    """
    from newsqa.evaluation import DatasetError, evaluate_path, format_table, to_json, write_report

    try:
        report = evaluate_path(
            path,
            fmt,  # type: ignore[arg-type]  # click.Choice guarantees a Format
            corpus=list(corpus),
            split=split,
            limit=limit,
            settings=_settings(ctx),
            k=k,
            baseline=baseline,
        )
        written = write_report(report, report_dir) if report_dir else []
    except DatasetError as exc:
        raise click.ClickException(str(exc)) from exc
    except ImportError as exc:
        hint = "install the extra: pip install 'newsqa[eval]'"
        raise click.ClickException(f"{exc}; {hint}") from exc
    click.echo(to_json(report) if as_json else format_table(report))
    if written:
        click.echo(f"report written to {report_dir}/ ({len(written)} files)", err=True)


@main.command()
@click.pass_context
def migrate(ctx: click.Context) -> None:
    """Bring a library written by an older newsqa up to date (a third of the disk).

    newsqa 0.1 kept each passage's sentence vectors in Chroma's metadata, where
    SQLite stores and indexes them: ~4.6 KB a passage. This moves them beside the
    store (~1.7 KB). Such a library works as it is; migrating only saves space.
    Safe to interrupt and rerun. SQLite reuses the space freed inside
    chroma.sqlite3 for later writes; it gives it back to the disk only after a
    VACUUM of that file (e.g. `sqlite3 chroma.sqlite3 VACUUM` with no newsqa
    running).
    """
    from tqdm import tqdm

    store = _qa(ctx).store
    total = store.count_passages()
    with tqdm(total=total, desc="Migrating", unit="passage", disable=total < 1) as bar:
        moved = store.migrate(on_progress=bar.update)
    click.echo(f"moved the sentence vectors of {moved:,} of {total:,} passages")


@main.command()
@click.pass_context
def repair(ctx: click.Context) -> None:
    """Rebuild the library's vector index if it cannot be read back.

    A process killed while Chroma saves its index can leave a file of it empty,
    and then every question fails. The articles and passages are intact; this
    embeds every passage again and writes the index anew (the damaged files are
    kept in the data dir's damaged/ folder). Safe to interrupt and rerun.
    """
    qa = _qa(ctx)
    if qa.settings.chroma_url is not None:
        click.echo("nothing to repair here: the Chroma server keeps its own index")
        return
    rebuilt = qa.repair(progress=True)
    if rebuilt:
        click.echo(f"rebuilt the index of {', '.join(rebuilt)}")
    else:
        click.echo("nothing to repair: every index reads back whole")


def run(args: Sequence[str] | None = None) -> None:
    """Entry point: set up the process, run the command, and turn expected failures
    into one clear ``error:`` line and exit code 1 (usage errors: 2)."""
    configure_process()
    try:
        main(args=list(args) if args is not None else None, standalone_mode=True)
    except NewsQAError as exc:
        click.secho(f"error: {exc}", fg="red", err=True)
        sys.exit(1)
    except OSError as exc:  # a file or folder outside the store: unreadable, disk full
        where = f": {exc.filename}" if exc.filename else ""
        click.secho(f"error: {exc.strerror or exc}{where}", fg="red", err=True)
        sys.exit(1)
