"""Evaluate newsqa on a question set, beside the plain LangChain recipe.

>>> from newsqa.evaluation import evaluate_path, format_table
>>> report = evaluate_path("tests/data/seed_test.jsonl", baseline=True)  # doctest: +SKIP
>>> print(format_table(report))                                          # doctest: +SKIP

Formats (detected from the path): the project's JSONL question sets, SQuAD v1.1
JSON, BEIR folders. Each run uses its own temporary store. See the README section
"Evaluating" for the metrics and their exact definitions.
"""

from __future__ import annotations

from newsqa.evaluation.datasets import (
    FORMATS,
    DatasetError,
    EvalQuestion,
    EvalSet,
    Format,
    detect_format,
    load_dataset,
)
from newsqa.evaluation.metrics import summarize
from newsqa.evaluation.records import QuestionRecord
from newsqa.evaluation.report import format_markdown, format_table, to_json, write_report
from newsqa.evaluation.runner import EvalReport, SystemRun, evaluate, evaluate_path

__all__ = [
    "FORMATS",
    "DatasetError",
    "EvalQuestion",
    "EvalReport",
    "EvalSet",
    "Format",
    "QuestionRecord",
    "SystemRun",
    "detect_format",
    "evaluate",
    "evaluate_path",
    "format_markdown",
    "format_table",
    "load_dataset",
    "summarize",
    "to_json",
    "write_report",
]
