"""A read-only install works: docbot installed with `pip install --target` into a folder made read-only
runs `ingest`, `search` and `ask` (with the real SmolLM2) and writes nothing inside its own package; the
runtime files go to the index folder and the cache folder.

Permissions do not bind root: run as root, each command runs in its own mount namespace (`unshare -m`)
with the install bind-mounted read-only, so that it really cannot be written."""

from __future__ import annotations

import json
import os
import shutil
import stat
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from devtools.pdfs import make_text_pdf

pytestmark = [pytest.mark.slow, pytest.mark.timeout(600)]

REPO = Path(__file__).resolve().parents[1]
PACKAGES = ("bot", "ingest", "models", "vectorstore", "config")
GUARANTEE = (
    "The minimum guarantee payable by Northwind Sports over the term of the agreement is £640 million."
)
QUESTION = "How much is the minimum guarantee payable by Northwind Sports?"
RUN = (
    "import os, sys, bot.cli; here = os.path.dirname(bot.cli.__file__);"
    " print(bot.cli.__file__, f'writable={os.access(here, os.W_OK)}', file=sys.stderr);"
    " sys.exit(bot.cli.main(sys.argv[1:]))"
)
# Bind-mount the install ($0) read-only over itself, then run the command.
READ_ONLY_MOUNT = 'mount --bind "$0" "$0" && mount -o remount,bind,ro "$0" "$0" && exec "$@"'


def _listing(root: Path) -> dict[str, tuple[int, int]]:
    return {
        str(path.relative_to(root)): (path.stat().st_size, path.stat().st_mtime_ns)
        for package in PACKAGES
        for path in sorted((root / package).rglob("*"))
    }


def _set_writable(root: Path, writable: bool) -> None:
    for package in PACKAGES:
        for path in [root / package, *(root / package).rglob("*")]:
            mode = path.stat().st_mode
            bits = stat.S_IWUSR | stat.S_IWGRP | stat.S_IWOTH
            path.chmod(mode | stat.S_IWUSR if writable else mode & ~bits)


def _read_only_prefix(target: Path) -> list[str]:
    """What to run a command under so that `target` cannot be written (nothing when permissions bind)."""
    if os.geteuid() != 0:
        return []
    if shutil.which("unshare") is None or subprocess.run(["unshare", "-m", "true"], check=False).returncode:
        pytest.skip("running as root without mount namespaces: the install cannot be made read-only")
    return ["unshare", "-m", "sh", "-c", READ_ONLY_MOUNT, str(target)]


@pytest.fixture(scope="module")
def installed() -> Iterator[Path]:
    """docbot built from a copy of this tree and installed (no dependencies) into a read-only folder."""
    root = Path(tempfile.mkdtemp(prefix="docbot-readonly-"))
    root.chmod(0o755)
    source = root / "source"
    source.mkdir()
    for name in (*PACKAGES, "pyproject.toml", "README.md"):
        origin = REPO / name
        if origin.is_dir():
            shutil.copytree(origin, source / name, ignore=shutil.ignore_patterns("__pycache__", "cache"))
        else:
            shutil.copyfile(origin, source / name)
    target = root / "site"
    pip = [sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--no-build-isolation"]
    subprocess.run(
        [*pip, "--no-index", "--target", str(target), str(source)],
        check=True,
        capture_output=True,
        text=True,
        timeout=300,
    )
    _set_writable(target, False)
    try:
        yield target
    finally:
        _set_writable(target, True)
        shutil.rmtree(root, ignore_errors=True)


@pytest.fixture
def work() -> Iterator[Path]:
    """Data, index and cache folders, with the OpenVINO export this machine already has (no new export)."""
    from models.openvino_export import default_cache_dir

    folder = Path(tempfile.mkdtemp(prefix="docbot-readonly-work-"))
    exports = default_cache_dir()
    if exports.is_dir():
        shutil.copytree(exports, folder / "cache" / "embeddings", ignore=shutil.ignore_patterns(".export-*"))
    try:
        yield folder
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def _docbot(
    target: Path, work: Path, *args: str, model: Path, read_only: bool = True
) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DOCBOT_", "SLACK_", "PYTHON"))}
    env |= {
        "PYTHONDONTWRITEBYTECODE": "1",  # bytecode caches are Python's, not docbot's runtime files
        "PYTHONPATH": str(target),  # the installed copy, not this checkout
        "HOME": str(work / "home"),
        "DOCBOT_CACHE_DIR": str(work / "cache"),
        "DOCBOT_DATA_DIR": str(work / "data"),
        "DOCBOT_INDEX_DIR": str(work / "index"),
        "DOCBOT_MODEL_PATH": str(model),
        "DOCBOT_THREADS": "2",
        "DOCBOT_K": "2",
    }
    return subprocess.run(
        [*(_read_only_prefix(target) if read_only else []), sys.executable, "-c", RUN, *args],
        cwd=work,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )


def test_ingest_search_and_ask_from_a_read_only_install(
    installed: Path, work: Path, real_chat_model: Path
) -> None:
    pytest.importorskip("llama_cpp")
    make_text_pdf(work / "data" / "club.pdf", ["Annual report 2022.", GUARANTEE], labels=["i", "43"])
    (work / "home").mkdir()
    before = _listing(installed)

    ingest = _docbot(installed, work, "ingest", "--json", model=real_chat_model)
    assert ingest.returncode == 0, ingest.stderr
    assert f"{installed / 'bot' / 'cli.py'} writable=False" in ingest.stderr  # the read-only installed copy
    assert json.loads(ingest.stdout)["indexed"] == ["club.pdf"]

    search = _docbot(installed, work, "search", "--json", QUESTION, model=real_chat_model)
    assert search.returncode == 0, search.stderr
    top = json.loads(search.stdout)["hits"][0]
    assert (top["file"], top["page"], top["page_label"]) == ("club.pdf", 2, "43")

    ask = _docbot(installed, work, "ask", "--json", QUESTION, model=real_chat_model)
    assert ask.returncode == 0, ask.stderr
    answer = json.loads(ask.stdout)
    assert answer["mode"] == "llm" and "640" in answer["answer"]

    assert _listing(installed) == before  # nothing written inside the package (no cache, no pyc)
    assert list((work / "cache" / "embeddings").glob("minilm-int8-*/model.xml"))  # the export's place
    assert (work / "cache" / "llm-probe.json").is_file()  # the model probe's result, outside the package


def test_a_writable_install_gets_no_runtime_files_either(installed: Path, work: Path, tmp_path: Path) -> None:
    """Where the package could be written (a user's own venv), docbot still keeps its export, digests and
    probes out of it: an upgrade would lose them and every user of the interpreter would share them."""
    make_text_pdf(work / "data" / "club.pdf", ["Annual report 2022.", GUARANTEE], labels=["i", "43"])
    (work / "home").mkdir()
    _set_writable(installed, True)
    try:
        before = _listing(installed)
        ingest = _docbot(installed, work, "ingest", "--json", model=tmp_path / "none.gguf", read_only=False)
        assert ingest.returncode == 0, ingest.stderr
        assert json.loads(ingest.stdout)["indexed"] == ["club.pdf"]
        assert _listing(installed) == before
        assert not (installed / "models" / "cache").exists()
    finally:
        _set_writable(installed, False)
