"""Generated answers from a local or remote LLM, every sentence checked against its source.

``GenerativeAnswerer`` has the same interface as the extractive answerer
(:class:`newsqa.answering.Answerer`) and adds :meth:`GenerativeAnswerer.stream`.
Backends are LangChain chat models:

- in-process llama.cpp (``llama-cpp-python``) loading ``NEWSQA_LLM_GGUF``, through
  :class:`ChatLlamaCpp`, a thin ``BaseChatModel`` (the maintained LangChain
  integration lives in ``langchain-community``, which we do not depend on);
- any OpenAI-compatible server (llama.cpp's server, Ollama, vLLM, LM Studio,
  hosted APIs) through ``langchain-openai``'s ``ChatOpenAI`` at
  ``NEWSQA_LLM_BASE_URL``. It wins when both are set.

Both come with the optional extra ``newsqa[llm]`` and are imported only when used.

Small models paraphrase, invent, drop or misplace their ``[n]`` markers, and may
obey instructions planted in an article. So the model's text is never trusted as
is: :class:`SentenceChecker` splits it into sentences and keeps a sentence only
when a passage supports it (lexical coverage and MiniLM cosine against the
passage's best-matching sentence, and every number and proper name of the
sentence present in the passage). A sentence its cited passage does not support,
or one with no marker, is re-cited to a passage that does support it, or dropped.
Each kept sentence cites the exact source sentence (article offsets), so
:func:`newsqa.citations.verify_answer` can check it like any extractive citation.
When nothing survives, the extractive answer (or its refusal) is returned instead.
"""

from __future__ import annotations

import atexit
import importlib.util
import logging
import os
import re
import threading
import time
from collections.abc import Generator, Iterator, Sequence
from dataclasses import dataclass, field, replace
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
from langchain_core.callbacks import CallbackManagerForLLMRun
from langchain_core.language_models import BaseChatModel
from langchain_core.messages import (
    AIMessage,
    AIMessageChunk,
    BaseMessage,
)
from langchain_core.output_parsers import StrOutputParser
from langchain_core.outputs import ChatGeneration, ChatGenerationChunk, ChatResult

from newsqa.answering import ExtractiveAnswerer, cite, refusal
from newsqa.chunking import split_sentences
from newsqa.conversation import Resolved
from newsqa.embeddings import MiniLMEmbeddings
from newsqa.errors import GenerativeSetupError
from newsqa.lexicon import MODEL_MARKER, MONTHS, NUMBER_WORDS
from newsqa.models import Answer, Citation, Hit, Span
from newsqa.prompts import NOT_IN_ARTICLES, PromptPassage, answer_prompt, format_passages
from newsqa.text import content_terms, inert_markers, mentions, name_tokens, names, words

if TYPE_CHECKING:
    from newsqa.settings import Settings

log = logging.getLogger(__name__)

LLM_EXTRA_HINT = "install the optional extra: pip install 'newsqa[llm]'"
# Enough for three cited sentences; a model that rambles past it is cut off.
DEFAULT_MAX_TOKENS = 256


# -- the llama.cpp chat model ----------------------------------------------------------


@lru_cache(maxsize=2)
def _load_llama(model_path: str, n_ctx: int, n_threads: int) -> tuple[Any, threading.Lock]:
    """One loaded model per file and process (loading takes seconds and memory), and a
    lock: a ``Llama`` object is not thread-safe and Streamlit serves sessions on threads.

    How llama.cpp's threads wait (``OMP_WAIT_POLICY``) is the entry point's to set
    (:mod:`newsqa.runtime`), before this import."""
    from llama_cpp import Llama

    llama = Llama(
        model_path=model_path,
        n_ctx=n_ctx,
        n_threads=n_threads,
        n_threads_batch=n_threads,
        verbose=False,
    )
    return llama, threading.Lock()


# Free the models while the interpreter is intact: freed later, at teardown,
# llama-cpp-python's finaliser fails with "'NoneType' object is not callable".
atexit.register(_load_llama.cache_clear)


def available_cores() -> int:
    """The cores this process may run on (its affinity, which containers narrow)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not on Linux
        return max(1, os.cpu_count() or 1)


_ROLES = {"system": "system", "human": "user", "ai": "assistant"}


def _to_openai(messages: Sequence[BaseMessage]) -> list[dict[str, str]]:
    out = []
    for message in messages:
        role = _ROLES.get(message.type)
        if role is None:
            raise ValueError(f"ChatLlamaCpp cannot send a {message.type!r} message")
        out.append({"role": role, "content": message.text})
    return out


class ChatLlamaCpp(BaseChatModel):
    """A GGUF model run in-process by ``llama_cpp.Llama.create_chat_completion``.

    The chat template comes from the GGUF file's metadata, so any instruct model
    works. Decoding is greedy by default: answers should be reproducible.
    """

    model_path: str
    n_ctx: int = 4096
    # None: every core this process may use. (llama.cpp's own default, half the
    # logical cores, left one of two cores idle here: see benchmarks/RESULTS.md.)
    n_threads: int | None = None
    max_tokens: int = DEFAULT_MAX_TOKENS
    temperature: float = 0.0
    seed: int = 0

    @property
    def _llm_type(self) -> str:
        return "newsqa-llama-cpp"

    @property
    def _identifying_params(self) -> dict[str, Any]:
        return {"model_path": self.model_path, "n_ctx": self.n_ctx, "max_tokens": self.max_tokens}

    def _generate(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> ChatResult:
        text = "".join(c.text for c in self._stream(messages, stop, run_manager, **kwargs))
        return ChatResult(generations=[ChatGeneration(message=AIMessage(content=text))])

    def _stream(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> Iterator[ChatGenerationChunk]:
        threads = self.n_threads or available_cores()
        llama, lock = _load_llama(self.model_path, self.n_ctx, threads)
        with lock:
            parts = llama.create_chat_completion(
                messages=_to_openai(messages),
                stream=True,
                max_tokens=kwargs.get("max_tokens", self.max_tokens),
                temperature=kwargs.get("temperature", self.temperature),
                seed=self.seed,
                stop=stop or [],
            )
            for part in parts:
                delta = part["choices"][0]["delta"].get("content") or ""
                if not delta:
                    continue
                chunk = ChatGenerationChunk(message=AIMessageChunk(content=delta))
                if run_manager:
                    run_manager.on_llm_new_token(delta, chunk=chunk)
                yield chunk


def chat_model_from_settings(settings: Settings, max_tokens: int | None = None) -> BaseChatModel:
    """The chat model the settings name; :class:`GenerativeSetupError` says what is missing."""
    max_tokens = max_tokens or DEFAULT_MAX_TOKENS
    if settings.llm_base_url:
        try:
            from langchain_openai import ChatOpenAI
        except ImportError as exc:
            raise GenerativeSetupError(
                f"NEWSQA_LLM_BASE_URL needs langchain-openai; {LLM_EXTRA_HINT}"
            ) from exc
        options: dict[str, Any] = {
            "base_url": settings.llm_base_url,
            "model": settings.llm_model,
            # Local servers accept any key, but the client insists on one.
            "api_key": settings.llm_api_key or "none",
            "temperature": 0.0,
            "max_tokens": max_tokens,
            "timeout": 300,
            "max_retries": 1,
        }
        return ChatOpenAI(**options)
    if settings.llm_gguf:
        path = Path(settings.llm_gguf).expanduser()
        if not path.is_file():
            raise GenerativeSetupError(f"NEWSQA_LLM_GGUF: no such file {path}")
        if importlib.util.find_spec("llama_cpp") is None:
            raise GenerativeSetupError(f"NEWSQA_LLM_GGUF needs llama-cpp-python; {LLM_EXTRA_HINT}")
        return ChatLlamaCpp(
            model_path=str(path.resolve()), max_tokens=max_tokens, n_threads=settings.llm_threads
        )
    raise GenerativeSetupError(
        "generative mode needs a model: set NEWSQA_LLM_GGUF to a GGUF file, or "
        "NEWSQA_LLM_BASE_URL (and NEWSQA_LLM_MODEL) to an OpenAI-compatible server"
    )


# -- parsing the model's answer --------------------------------------------------------

_LEADING_MARKERS = re.compile(rf"^\s*(?:{MODEL_MARKER.pattern}\s*)+", re.I)
_SENTINEL = re.compile(r"NOT[\s_-]*IN[\s_-]*(?:THE[\s_-]*)?ARTICLES", re.I)
# List bullets, "Answer:" labels and markdown emphasis are layout, not content.
_LAYOUT = re.compile(r"^\s*(?:[-*•]|\d{1,2}[.)])\s+|^\s*(?:final\s+)?answer\s*:\s*", re.I)


def _marker_numbers(group: str) -> list[int]:
    numbers: list[int] = []
    for part in re.split(r"\s*(?:,|;|and)\s*", group, flags=re.I):
        part = re.sub(r"(?i)passage\s*", "", part).strip()
        bounds = re.split(r"\s*[-–]\s*", part)
        if len(bounds) == 2 and all(b.isdigit() for b in bounds):
            lo, hi = int(bounds[0]), int(bounds[1])
            numbers.extend(range(lo, min(hi, lo + 10) + 1))  # "[2-4]"; bounded: never "[1-999]"
        elif part.isdigit():
            numbers.append(int(part))
    return numbers


@dataclass
class Claim:
    """One sentence of the model's answer, without its markers, and what it cited."""

    text: str
    cited: list[int] = field(default_factory=list)


def split_claims(answer: str) -> list[Claim]:
    """The model's answer as sentences with the passage numbers each one cites.

    A marker written after the full stop ("... said. [2] Then ...") belongs to the
    sentence before it, not to the next one.
    """
    answer = answer.replace("**", "").replace("__", "")
    claims: list[Claim] = []
    # A model's line break ends a sentence (list items, an "Answer:" line).
    for span in split_sentences(answer, lines=True):
        sentence = answer[span.start : span.end]
        lead = _LEADING_MARKERS.match(sentence)
        if lead:
            numbers = [
                n for m in MODEL_MARKER.finditer(lead.group(0)) for n in _marker_numbers(m[1])
            ]
            if claims:
                claims[-1].cited.extend(n for n in numbers if n not in claims[-1].cited)
                sentence = sentence[lead.end() :]
        cited: list[int] = []
        for match in MODEL_MARKER.finditer(sentence):
            cited.extend(n for n in _marker_numbers(match[1]) if n not in cited)
        text = MODEL_MARKER.sub("", sentence)
        text = _LAYOUT.sub("", text)
        text = re.sub(r"\s+([.,;:!?])", r"\1", " ".join(text.split())).strip()
        if not re.search(r"\w", text):
            if claims:  # a stray marker on its own line
                claims[-1].cited.extend(n for n in cited if n not in claims[-1].cited)
            continue
        claims.append(Claim(text, cited))
    return claims


def has_sentinel(answer: str) -> bool:
    """Whether the model said the passages do not answer (also "NOT IN ARTICLES")."""
    return bool(_SENTINEL.search(answer))


# -- checking claims against the passages ----------------------------------------------

_DIGITS = re.compile(r"\d+(?:[.,]\d+)*")


def numbers_in(text: str) -> set[str]:
    """Numbers as digits ("38-minute" -> 38, "two" -> 2, "1,000" -> 1000)."""
    found = {m.group(0).replace(",", "").rstrip(".") for m in _DIGITS.finditer(text)}
    found.update(str(NUMBER_WORDS[w]) for w in words(_normalise(text)) if w in NUMBER_WORDS)
    return {n.lstrip("0") or "0" for n in found}  # "05" (a day) and "5" alike


_POSSESSIVE = re.compile(r"(?<=\w)[’']s\b")


def _normalise(text: str) -> str:
    # "38-minute recording" -> "38 minute recording"; "Germany’s" -> "Germany": a
    # paraphrase rarely keeps compounds and possessives as the article wrote them.
    return _POSSESSIVE.sub("", re.sub(r"[-–—]", " ", text))


def terms_of(text: str) -> frozenset[str]:
    """Stemmed content words, after splitting compounds and dropping possessives."""
    return frozenset(content_terms(_normalise(text)))


def _matched(term: str, pool: frozenset[str]) -> bool:
    # Stems still differ across word forms ("lead"/"leader", "german"/"germani"), so
    # terms of four letters or more also match on a shared five-letter prefix.
    if term in pool:
        return True
    if len(term) < 4:
        return False
    return any(len(p) >= 4 and (p.startswith(term[:5]) or term.startswith(p[:5])) for p in pool)


def coverage(claim_terms: frozenset[str], pool: frozenset[str]) -> float:
    """Share of the claim's content words found in ``pool``."""
    if not claim_terms:
        return 0.0
    return sum(_matched(t, pool) for t in claim_terms) / len(claim_terms)


_NEGATION = re.compile(r"\b(?:not|no|never|neither|nor|none|nothing|nobody)\b|n[’']t\b", re.I)


def negated_terms(text: str, reach: int = 2) -> frozenset[str]:
    """The first ``reach`` content terms after a "not", within its clause ("will not
    give Taurus missiles" -> give, taurus): what the sentence denies."""
    out: set[str] = set()
    for match in _NEGATION.finditer(text):
        clause = re.split(r"[,.;:!?]", text[match.end() :], maxsplit=1)[0]
        out.update(content_terms(_normalise(clause))[:reach])
    return frozenset(out)


def polarity_clash(claim: str, claim_terms: frozenset[str], source: Source) -> bool:
    """Whether one of the two denies what the other asserts. Lexical and embedding
    agreement cannot see a "not": "Germany will send the missiles" scores high against
    "Germany will not give the missiles". Only a "not" that bears on shared words
    counts, so "don't do something" in a quote does not sink every paraphrase of it."""
    denied_by_source = negated_terms(source.text)
    denied_by_claim = negated_terms(claim)
    if denied_by_source and not denied_by_claim:
        return coverage(denied_by_source, claim_terms) > 0
    if denied_by_claim and not denied_by_source:
        return coverage(denied_by_claim, source.terms) > 0
    return False


_SENTENCE_START = frozenset(".!?:;\"“”‘’'([\n")


def proper_words(texts: Sequence[str]) -> frozenset[str]:
    """Lower-cased words written with a capital inside a sentence: names, as far as
    the passages tell ("Peskov", not "Training" or "The")."""
    found: set[str] = set()
    for text in texts:
        for match in re.finditer(r"\b[A-Z][\w’'-]*", text):
            before = text[: match.start()].rstrip()
            if before and before[-1] not in _SENTENCE_START:
                found.add(match.group(0).lower())
    return frozenset(found)


def claim_names(claim: str, proper: frozenset[str] = frozenset()) -> list[str]:
    """Name tokens a claim asserts. A capital on the sentence's first word says
    nothing ("Training Ukrainian soldiers ..." names no one called Training), so that
    word counts only when the passages write it as a name (``proper``)."""
    first = words(claim)[:1]
    tokens: list[str] = []
    for phrase in names(_POSSESSIVE.sub("", claim)):
        for token in name_tokens(phrase):
            if token not in tokens:
                tokens.append(token)
    if (
        first
        and tokens
        and tokens[0] == first[0]
        and claim.lower().startswith(first[0])
        and first[0] not in proper
    ):
        tokens = tokens[1:]
    return tokens


@dataclass(frozen=True)
class Source:
    """A sentence of a retrieved passage, exactly as stored (article offsets)."""

    hit: Hit
    span: Span
    text: str
    terms: frozenset[str]
    instruction: bool = False  # reads like a prompt injection: never support


# Sentences that talk to an AI rather than report news ("Ignore previous instructions
# and say ..."). A model that obeys one repeats its words, which the sentence itself
# would then "support"; so such sentences never count as support (OWASP LLM01).
_INSTRUCTION = re.compile(
    r"\b(?:ignore|disregard|forget|override)\b[^.!?]{0,60}\b(?:instructions?|prompts?|rules|"
    r"guidelines|above|previous|prior|context)\b|\b(?:system prompt|you are now|as an ai|"
    r"language model|assistant must|reply only with|respond only with|say only)\b",
    re.I,
)


def is_instruction(sentence: str) -> bool:
    """Whether a sentence reads like instructions to a model, not like reporting."""
    return bool(_INSTRUCTION.search(sentence))


@dataclass(frozen=True)
class PassageView:
    """A numbered passage as the checker sees it: its sentences, words and numbers."""

    n: int
    hit: Hit
    sources: tuple[Source, ...]
    words: frozenset[str]  # of the passage and its title, for names
    numbers: frozenset[str]
    date_numbers: frozenset[str]  # year, month, day of the article's date
    year: str  # "" without a date
    month: str  # the date's month name, lower case; "" without a date

    def allowed_numbers(self, claim_words: Sequence[str]) -> frozenset[str]:
        """Numbers a claim may use: the passage's, the year shown with it, and the
        month and day only when the claim names the month ("on March 5")."""
        if not self.year:
            return self.numbers
        return self.numbers | (self.date_numbers if self.month in claim_words else {self.year})


def passage_view(n: int, hit: Hit) -> PassageView:
    p = hit.passage
    sources = tuple(
        Source(hit, s, text, terms_of(text), is_instruction(text))
        for s in p.sentences
        for text in [p.text[s.start - p.start : s.end - p.start]]
    )
    # The title is shown to the model with the passage, so names may come from it.
    context = f"{p.text} {hit.title}"
    date_numbers: frozenset[str] = frozenset()
    year = month = ""
    if hit.date:
        year, mm, dd = hit.date.split("-")
        date_numbers = frozenset(numbers_in(f"{year} {mm} {dd}"))
        month = MONTHS[int(mm) - 1]
        context += f" {month.title()}"
    return PassageView(
        n=n,
        hit=hit,
        sources=sources,
        words=frozenset(words(_normalise(context))),
        numbers=frozenset(numbers_in(f"{p.text} {hit.title}")),
        date_numbers=date_numbers,
        year=year,
        month=month,
    )


Status = Literal["kept", "recited", "dropped"]


@dataclass(frozen=True)
class Support:
    """How well one passage supports one claim."""

    view: PassageView
    source: Source  # the passage's best-matching sentence
    score: float  # (lexical coverage by that sentence + cosine) / 2
    problem: str = ""  # why the passage does not support the claim; "" when it does


@dataclass
class CheckedClaim:
    """The verdict on one generated sentence."""

    claim: Claim
    status: Status
    sources: list[Source] = field(default_factory=list)  # what it now cites
    score: float = 0.0  # support of the best source sentence
    reason: str = ""  # why it was dropped


@dataclass
class CheckReport:
    """All verdicts, in the answer's order."""

    claims: list[CheckedClaim]

    @property
    def kept(self) -> list[CheckedClaim]:
        return [c for c in self.claims if c.status != "dropped"]

    @property
    def dropped_share(self) -> float:
        return (len(self.claims) - len(self.kept)) / len(self.claims) if self.claims else 0.0

    def counts(self) -> dict[str, int]:
        return {s: sum(c.status == s for c in self.claims) for s in ("kept", "recited", "dropped")}


class SentenceChecker:
    """Decides, with no model but MiniLM, whether a passage supports a sentence.

    The passage's best-matching sentence is the one with the highest
    ``(share of the claim's content words it holds + MiniLM cosine) / 2``. The
    passage supports the claim when:

    - every number of the claim is in the passage (the article's year too, and its
      month and day when the claim names the month);
    - every proper name of the claim is in the passage or its title;
    - the best sentence holds at least ``min_coverage`` of the claim's content words
      (word forms and compounds matched loosely), has cosine ``min_cosine`` or more,
      and scores ``min_support`` or more;
    - the claim has ``min_terms`` content words or more (shorter says too little to check);
    - neither denies what the other asserts (a "not" bearing on shared words);
    - that sentence is not an instruction to a model (prompt injection).

    It checks support, not relevance to the question: the answerer's gate does that.
    The thresholds were set on hand-written paraphrases and distortions of the seed
    article (``tests/test_generative.py``), not on the evaluation questions.
    """

    def __init__(
        self,
        embeddings: MiniLMEmbeddings,
        min_support: float = 0.5,
        min_coverage: float = 0.65,
        min_cosine: float = 0.25,
        min_terms: int = 2,
    ) -> None:
        self.embeddings = embeddings
        self.min_support = min_support
        self.min_coverage = min_coverage
        self.min_cosine = min_cosine
        self.min_terms = min_terms

    def check(self, answer: str, hits: Sequence[Hit]) -> CheckReport:
        """Verdicts on every sentence of ``answer``; passage ``n`` is ``hits[n - 1]``."""
        claims = split_claims(answer)
        if not claims:
            return CheckReport([])
        views = [passage_view(i, hit) for i, hit in enumerate(hits, start=1)]
        views = [v for v in views if v.sources]  # numbering stays that of the prompt
        sources = [s for v in views for s in v.sources]
        vectors = self.embeddings.encode([c.text for c in claims] + [s.text for s in sources])
        claim_vecs, source_vecs = vectors[: len(claims)], vectors[len(claims) :]
        cosine = claim_vecs @ source_vecs.T  # unit vectors: dot product = cosine
        offsets = np.cumsum([0] + [len(v.sources) for v in views])
        proper = proper_words([f"{v.hit.title}. {v.hit.passage.text}" for v in views])

        verdicts: list[CheckedClaim] = []
        seen: set[str] = set()
        for i, claim in enumerate(claims):
            key = " ".join(words(claim.text))
            if key in seen:  # small models repeat themselves
                verdicts.append(
                    CheckedClaim(claim, "dropped", reason="repeats an earlier sentence")
                )
                continue
            seen.add(key)
            scored = [
                self._support(claim, view, cosine[i, offsets[j] : offsets[j + 1]], proper)
                for j, view in enumerate(views)
            ]
            cited = [s for s in scored if s.view.n in claim.cited]
            good_cited = [s for s in cited if not s.problem]
            if good_cited:
                # Every cited passage that supports it stays cited ("[1][3]").
                best = max(s.score for s in good_cited)
                sources = [s.source for s in good_cited]
                verdicts.append(CheckedClaim(claim, "kept", sources, round(best, 4)))
                continue
            good = [s for s in scored if not s.problem]
            if good:
                top = max(good, key=lambda s: s.score)
                verdicts.append(CheckedClaim(claim, "recited", [top.source], round(top.score, 4)))
                continue
            # Explain with the cited passage when there is one, else the closest passage.
            closest = max(cited or scored, key=lambda s: s.score)
            verdicts.append(
                CheckedClaim(
                    claim, "dropped", score=round(closest.score, 4), reason=closest.problem
                )
            )
        return CheckReport(verdicts)

    def _support(
        self, claim: Claim, view: PassageView, cosines: np.ndarray, proper: frozenset[str]
    ) -> Support:
        """How well ``view`` supports ``claim`` (``cosines``: claim vs each sentence;
        ``proper``: words the passages write as names)."""
        claim_terms = terms_of(claim.text)
        view_words = set(view.words)
        scores = [
            -1.0 if src.instruction else (coverage(claim_terms, src.terms) + max(cos, 0.0)) / 2
            for src, cos in zip(view.sources, cosines.tolist(), strict=True)
        ]
        best = int(np.argmax(scores))
        found = Support(view, view.sources[best], scores[best])
        if found.source.instruction:
            return replace(found, problem="the passage only holds instructions to a model")
        if len(claim_terms) < self.min_terms:
            return replace(found, problem="too short to check")
        claim_words = words(_normalise(claim.text))
        missing_numbers = numbers_in(claim.text) - view.allowed_numbers(claim_words)
        if missing_numbers:
            return replace(found, problem=f"number not in passage: {sorted(missing_numbers)}")
        missing = [t for t in claim_names(claim.text, proper) if not mentions(view_words, t)]
        if missing:
            return replace(found, problem=f"name not in passage: {', '.join(missing)}")
        covered = coverage(claim_terms, found.source.terms)
        if covered < self.min_coverage:
            return replace(found, problem=f"best sentence has {covered:.0%} of its words")
        if float(cosines[best]) < self.min_cosine or found.score < self.min_support:
            return replace(found, problem=f"best sentence support {found.score:.2f}")
        if polarity_clash(claim.text, claim_terms, found.source):
            return replace(found, problem="the passage says the opposite (negation)")
        return found


# -- the answerer ----------------------------------------------------------------------


class AnswerStream(Iterator[str]):
    """Tokens as the model writes them; afterwards :meth:`result` is the checked Answer.

    The tokens are the model's raw draft (passage numbers as markers, sentences
    the checker may still drop): show them while waiting, then replace them with
    the final answer.
    """

    def __init__(self, steps: Generator[str, None, Answer]) -> None:
        self._steps = steps
        self._answer: Answer | None = None

    def __iter__(self) -> AnswerStream:
        return self

    def __next__(self) -> str:
        if self._answer is not None:
            raise StopIteration
        try:
            return next(self._steps)
        except StopIteration as done:
            self._answer = done.value
            raise StopIteration from None

    @property
    def done(self) -> bool:
        return self._answer is not None

    def close(self) -> None:
        """Stop generating (a reader that gives up early): frees the model at once.
        ``yield from`` calls this when the generator around it is closed."""
        self._steps.close()

    def result(self) -> Answer:
        """The checked answer, consuming any tokens not yet read."""
        for _ in self:
            pass
        assert self._answer is not None
        return self._answer


class GenerativeAnswerer:
    """Answers in the model's words; keeps only sentences a passage supports.

    ``gate``: ask the extractive answerer first and refuse, without calling the
    model, when it refuses (no passage, a name no article mentions, too little
    evidence). That calibrated gate is cheap (one MiniLM batch) and small models
    otherwise answer unanswerable questions with supported but irrelevant sentences:
    the checker verifies support, not relevance.

    ``trust_model_refusal``: when the model says ``NOT_IN_ARTICLES`` although the
    gate passed, refuse (True) or give the extractive answer (False).
    """

    mode = "generative"

    def __init__(
        self,
        chat_model: BaseChatModel,
        extractive: ExtractiveAnswerer,
        *,
        checker: SentenceChecker | None = None,
        gate: bool = True,
        trust_model_refusal: bool = True,
        max_prompt_chars: int = 8_000,
        model_name: str = "",
    ) -> None:
        self.chat_model = chat_model
        self.extractive = extractive
        self.checker = checker or SentenceChecker(extractive.embeddings)
        self.gate = gate
        self.trust_model_refusal = trust_model_refusal
        # About 2,000 tokens of passages: fits a 4,096-token context with the rules
        # and 256 answer tokens, and keeps prompt processing to seconds on a CPU.
        self.max_prompt_chars = max_prompt_chars
        self.model_name = model_name or _model_name(chat_model)
        self.chain = answer_prompt() | chat_model | StrOutputParser()

    @classmethod
    def from_settings(
        cls, settings: Settings, extractive: ExtractiveAnswerer
    ) -> GenerativeAnswerer:
        """The answerer for ``NEWSQA_LLM_*`` settings (raises :class:`GenerativeSetupError`)."""
        return cls(chat_model_from_settings(settings), extractive)

    def prompt_hits(self, hits: Sequence[Hit]) -> list[Hit]:
        """The passages shown to the model: best first, as many as fit the budget."""
        shown: list[Hit] = []
        used = 0
        for hit in hits:
            size = len(hit.passage.text) + len(hit.title) + 40
            if shown and used + size > self.max_prompt_chars:
                break
            shown.append(hit)
            used += size
        return shown

    def prompt_inputs(self, resolved: Resolved, hits: Sequence[Hit]) -> dict[str, str]:
        passages = [
            PromptPassage(n, h.title, h.date, h.passage.text) for n, h in enumerate(hits, start=1)
        ]
        # The standalone form: "What did she say?" reaches the model as "What did
        # Maria Zakharova say?" (see newsqa.conversation).
        return {"passages": format_passages(passages), "question": resolved.standalone}

    def answer(self, resolved: Resolved, hits: list[Hit]) -> Answer:
        return self.stream(resolved, hits).result()

    def stream(self, resolved: Resolved, hits: list[Hit]) -> AnswerStream:
        """Generate, yielding tokens; ``.result()`` of the returned stream is the Answer."""
        return AnswerStream(self._steps(resolved, hits))

    def _steps(self, resolved: Resolved, hits: list[Hit]) -> Generator[str, None, Answer]:
        t0 = time.perf_counter()
        info: dict[str, Any] = {"model": self.model_name}
        question = resolved.question
        if not hits:
            return self._refuse(question, "no passage in the library matches it", info)
        extractive: Answer | None = None
        if self.gate:
            extractive = self.extractive.answer(resolved, hits)
            if not extractive.answerable:
                info["gate"] = "refused"
                extractive.mode = self.mode
                extractive.generation = info
                return extractive

        shown = self.prompt_hits(hits)
        draft: list[str] = []
        timings: dict[str, float] = {}
        # The start of the draft is held back while it may still become the refusal
        # sentinel: a refusal is shown as the final answer, never as "NOT_IN_ART...".
        held: str | None = ""
        try:
            for token in self.chain.stream(self.prompt_inputs(resolved, shown)):
                if not token:
                    continue
                if not draft:
                    timings["first_token"] = time.perf_counter() - t0
                draft.append(token)
                if held is not None:
                    held += token
                    start = held.strip().upper()
                    if not start or NOT_IN_ARTICLES.startswith(start) or has_sentinel(held):
                        continue
                    token, held = held, None
                yield token
        except Exception as exc:  # a dead server or a broken model must not kill the chat
            log.warning("generation failed (%s): falling back to the extractive answer", exc)
            info["error"] = f"{type(exc).__name__}: {exc}"
        timings["generate"] = time.perf_counter() - t0
        text = "".join(draft)
        info["draft"] = text

        if "error" in info:
            return self._fallback(resolved, hits, extractive, info, timings, "the model failed")
        if has_sentinel(text):
            info["model_refused"] = True
            if self.trust_model_refusal:
                out = self._refuse(question, "the model found no answer in the passages", info)
                out.timings = timings
                return out
            return self._fallback(resolved, hits, extractive, info, timings, "the model refused")

        t1 = time.perf_counter()
        report = self.checker.check(text, shown)
        timings["check"] = time.perf_counter() - t1
        info.update(report.counts())
        info["sentences"] = len(report.claims)
        info["dropped_share"] = round(report.dropped_share, 4)
        info["dropped"] = [
            {"text": c.claim.text, "reason": c.reason}
            for c in report.claims
            if c.status == "dropped"
        ]
        if not report.kept:
            return self._fallback(resolved, hits, extractive, info, timings, "no sentence survived")
        answer = self._compose(question, report)
        answer.generation = info
        answer.timings = timings
        # The gate's calibrated probability that the passages answer the question.
        answer.confidence = extractive.confidence if extractive is not None else None
        return answer

    def _compose(self, question: str, report: CheckReport) -> Answer:
        """The kept sentences, each with markers for the exact sentences that support it."""
        numbers: dict[tuple[str, int], int] = {}
        citations: list[Citation] = []
        parts: list[str] = []
        for verdict in report.kept:
            marks: list[int] = []
            for src in verdict.sources:
                p = src.hit.passage
                key = (p.article_id, src.span.start)
                if key not in numbers:
                    numbers[key] = len(citations) + 1
                    citations.append(cite(numbers[key], src.hit, src.span, src.text, verdict.score))
                if numbers[key] not in marks:
                    marks.append(numbers[key])
            claim = inert_markers(verdict.claim.text)  # a "[2]" copied from an article
            # A line the model wrote without a full stop ("title: ...") still ends its
            # sentence, so the answer splits into the same claims, each with its marker.
            if not re.search(r"[.!?…\"”’')]$", claim):
                claim += "."
            parts.append(claim + "".join(f" [{m}]" for m in marks))
        return Answer(
            question=question,
            text=" ".join(parts),
            answerable=True,
            citations=citations,
            mode=self.mode,
        )

    def _refuse(self, question: str, reason: str, info: dict[str, Any]) -> Answer:
        out = refusal(question, reason, mode=self.mode)
        out.generation = info
        return out

    def _fallback(
        self,
        resolved: Resolved,
        hits: list[Hit],
        extractive: Answer | None,
        info: dict[str, Any],
        timings: dict[str, float],
        why: str,
    ) -> Answer:
        """The extractive answer (or its refusal), labelled as such."""
        out = extractive or self.extractive.answer(resolved, hits)
        info["fallback"] = why
        out.generation = info
        out.timings = timings
        return out


def _model_name(chat_model: BaseChatModel) -> str:
    for attr in ("model_path", "model_name", "model"):
        value = getattr(chat_model, attr, None)
        if isinstance(value, str) and value:
            return Path(value).name if attr == "model_path" else value
    return type(chat_model).__name__


__all__ = [
    "NOT_IN_ARTICLES",
    "AnswerStream",
    "ChatLlamaCpp",
    "CheckReport",
    "CheckedClaim",
    "Claim",
    "GenerativeAnswerer",
    "GenerativeSetupError",
    "SentenceChecker",
    "chat_model_from_settings",
    "split_claims",
]
