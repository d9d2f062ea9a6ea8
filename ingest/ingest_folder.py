"""Batch ingestion for scripts and schedulers: ``python ingest/ingest_folder.py PATH...``.

Ingests files and folders (recursively) into the library named by the
``NEWSQA_*`` settings, exactly as ``newsqa ingest PATH...`` does, with the same
report, progress bar, error handling and exit codes, for a cron job or a
pipeline step that runs scripts rather than installed commands:

    0  everything ingested (or already there)
    1  a file failed (the rest was still ingested), or the store failed
       (one ``error:`` line saying why, never a traceback)
    2  bad usage or a bad setting

All logic lives in ``newsqa.ingest``; options are those of ``newsqa ingest``
(``--json`` for a machine-readable report), and the library-wide ones come
before the paths: ``python ingest/ingest_folder.py --data-dir LIB PATH...``.
"""

from __future__ import annotations

import sys

from newsqa.cli import run

LIBRARY_OPTIONS = ("--data-dir", "--chroma-url", "--collection")


def main(argv: list[str]) -> None:
    """Run ``newsqa [library options] ingest [rest]`` for ``argv``."""
    library: list[str] = []
    rest = list(argv)
    while rest and rest[0].split("=", 1)[0] in LIBRARY_OPTIONS:
        option = rest.pop(0)
        library.append(option)
        if "=" not in option and rest:
            library.append(rest.pop(0))
    run([*library, "ingest", *rest])


if __name__ == "__main__":
    main(sys.argv[1:])
