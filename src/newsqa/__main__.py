"""``python -m newsqa`` runs the CLI."""

from newsqa.cli import run

run()
