"""Batch ingestion entry point: ``python ingest/ingest_folder.py PATH...``.

The same as ``newsqa ingest PATH...``; kept for people who run scripts rather than
installed commands. All logic lives in ``newsqa.ingest``.
"""

from newsqa.cli import main

if __name__ == "__main__":
    main(["ingest", *__import__("sys").argv[1:]])
