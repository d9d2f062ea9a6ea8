"""Follow-up questions: turn "What did she say?" into a question that stands alone.

Only questions that refer back (a pronoun, an elliptical "And Peskov?", a bare
"When?") are rewritten; anything else is used as asked, so a new topic never
drifts towards the old one (a common complaint about always-rewrite chat RAG).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field

from newsqa.lexicon import CALENDAR_WORDS, SPACED_MARKER
from newsqa.text import content_terms, names

History = Sequence[tuple[str, str]]

_PERSON_PRONOUN = re.compile(r"\b(he|she|him|his|her|hers)\b", re.IGNORECASE)
_THING_PRONOUN = re.compile(r"\b(it|its|they|them|their|this|that|these|those|there)\b", re.I)
_ELLIPSIS = re.compile(
    r"^\s*(?:and|what about|how about|and what about)\s+(?P<subject>.+?)\s*\??\s*$", re.I
)


@dataclass(frozen=True)
class Resolved:
    """The question to retrieve and answer with, and what it is about."""

    question: str  # as asked
    standalone: str  # what retrieval and answering use
    context: str = ""  # text from earlier turns added to a vague follow-up
    followup: bool = False
    names: list[str] = field(default_factory=list)  # proper names the question is about


def _person_names(text: str) -> list[str]:
    """Names that may be people: no weekdays or months; multi-word names first."""
    found = [n for n in names(text) if n.lower() not in CALENDAR_WORDS]
    return sorted(found, key=lambda n: -len(n.split()))


def _is_vague(question: str) -> bool:
    # "When?", "Why?", "How many?": nothing to search for on their own.
    return not content_terms(question)


def resolve(question: str, history: History | None = None) -> Resolved:
    """Rewrite a follow-up so that it stands alone; leave other questions alone."""
    question = question.strip()
    if not history:
        return Resolved(question, question, names=names(question))

    # Resolve the previous turn first, so a chain of follow-ups keeps its subject.
    prev_q, prev_a = history[-1]
    previous = resolve(prev_q, history[:-1])
    prev_answer = SPACED_MARKER.sub("", prev_a)
    own_names = names(question)

    ellipsis = _ELLIPSIS.match(question)
    if ellipsis:
        subject = ellipsis.group("subject")
        old = previous.names[0] if previous.names else ""
        if old and old in previous.standalone:
            standalone = previous.standalone.replace(old, subject, 1)
        else:
            standalone = f"{question} {previous.standalone}"
        return Resolved(question, standalone, previous.standalone, True, names(subject))

    if _PERSON_PRONOUN.search(question) and not own_names:
        # Only a full name is a safe antecedent: "the German ambassador" must not
        # turn "his visit" into "German's visit". Otherwise carry context below.
        people = [
            n
            for n in _person_names(previous.standalone) + _person_names(prev_answer)
            if len(n.split()) > 1
        ]
        if people:
            person = people[0]

            def substitute(match: re.Match[str]) -> str:
                word = match.group(1).lower()
                return f"{person}’s" if word in {"his", "hers"} else person

            standalone = _PERSON_PRONOUN.sub(substitute, question, count=1)
            return Resolved(question, standalone, previous.standalone, True, [person])

    if _THING_PRONOUN.search(question) or _is_vague(question) or _PERSON_PRONOUN.search(question):
        # No clean substitution: carry the previous question (and its answer's names)
        # along as context for retrieval and scoring.
        context = previous.standalone
        carried = previous.names or _person_names(prev_answer)[:1]
        standalone = f"{question} ({context})"
        return Resolved(question, standalone, context, True, own_names or carried)

    return Resolved(question, question, names=own_names)
