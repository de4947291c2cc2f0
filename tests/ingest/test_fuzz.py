"""Fuzzing the ingestion path with mutated PDFs: never a crash, never a hang, every failure with a reason.

Seeds are small generated PDFs (text, page labels, encryption, a scan) and, when ../shared/corpus is
present, the real reports. Mutations flip, overwrite, insert, delete and truncate bytes. `make test` runs a
short fuzz; the soak suite runs a long one (see FUZZ_EXAMPLES / SOAK_FUZZ_EXAMPLES).
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from langchain_core.embeddings import Embeddings

from devtools.pdfs import make_image_only_pdf, make_text_pdf
from ingest.pdf import EMPTY_FILE, NO_TEXT_LAYER, PASSWORD_PROTECTED, PdfReadError, read_pdf
from ingest.sync import SyncOptions, sync_folder
from tests.conftest import CORPUS
from vectorstore.store import IndexStore

FUZZ_EXAMPLES = 200
SOAK_FUZZ_EXAMPLES = 2000
CORPUS_EXAMPLES = 8
SOAK_CORPUS_EXAMPLES = 60
MAX_SECONDS = 2.0  # the per-file time limit given to read_pdf
# The limit is checked between pages; one page's extraction may still run past it. Anything beyond this
# slack is treated as a hang.
HANG_SECONDS = MAX_SECONDS + 8.0
KNOWN_REASONS = (EMPTY_FILE, PASSWORD_PROTECTED, NO_TEXT_LAYER)

TEXT = [
    "Annual report 2022. The minimum guarantee payable by adidas is 750 million pounds.",
    "Revenue grew by 12% to 583 million pounds; <!channel> see page 43.\n\nSection 2: Risks",
    "Ünïcödé text — with ligatures ﬁ ﬂ and a tab\there.",
]


@cache
def seeds(folder: Path) -> dict[str, bytes]:
    """Small real PDFs of each kind the reader handles."""
    folder.mkdir(parents=True, exist_ok=True)
    made = {
        "text": make_text_pdf(folder / "text.pdf", TEXT, labels=["i", "43", "44"], title="Report"),
        "footer": make_text_pdf(folder / "footer.pdf", TEXT[:2], footer_numbers=41, header="ACME plc"),
        "rc4": make_text_pdf(folder / "rc4.pdf", TEXT[:1], encrypt_password=""),
        "aes": make_text_pdf(folder / "aes.pdf", TEXT[:1], encrypt_password="", encrypt_algorithm="AES-128"),
        "locked": make_text_pdf(folder / "locked.pdf", TEXT[:1], encrypt_password="secret"),
        "scan": make_image_only_pdf(folder / "scan.pdf"),
    }
    return {name: path.read_bytes() for name, path in made.items()}


@dataclass(frozen=True)
class Mutation:
    """One edit of a file's bytes at a relative position."""

    kind: str
    at: float
    length: int
    data: bytes

    def apply(self, blob: bytes) -> bytes:
        pos = min(len(blob), int(self.at * len(blob)))
        if self.kind == "flip":
            return (
                blob[:pos]
                + bytes(b ^ 0xFF for b in blob[pos : pos + self.length])
                + blob[pos + self.length :]
            )
        if self.kind == "overwrite":
            return blob[:pos] + self.data + blob[pos + len(self.data) :]
        if self.kind == "insert":
            return blob[:pos] + self.data + blob[pos:]
        if self.kind == "delete":
            return blob[:pos] + blob[pos + self.length :]
        return blob[:pos]  # truncate


# Tokens that steer pypdf into its structure parsing rather than past it.
PDF_TOKENS = [
    b"obj", b"endobj", b"stream", b"endstream", b"xref", b"trailer", b"/Length 999999", b"<<", b">>", b"[",
    b"]", b"(", b")", b"/Type /Page", b"/Kids [1 0 R]", b"-1", b"99999999999", b"%%EOF", b"\x00",
]  # fmt: skip

mutations = st.builds(
    Mutation,
    kind=st.sampled_from(["flip", "overwrite", "insert", "delete", "truncate"]),
    at=st.floats(0.0, 1.0),
    length=st.integers(1, 64),
    data=st.one_of(st.binary(min_size=1, max_size=32), st.sampled_from(PDF_TOKENS)),
)


def mutate(blob: bytes, edits: list[Mutation]) -> bytes:
    for edit in edits:
        blob = edit.apply(blob)
    return blob


def read_one(path: Path) -> str:
    """Read a (mutated) PDF like the sync does; returns "ok" or the failure reason. Anything else raises."""
    started = time.monotonic()
    try:
        document = read_pdf(path, max_seconds=MAX_SECONDS, ocr=False)
    except PdfReadError as exc:
        outcome = exc.reason
        assert outcome in KNOWN_REASONS or (outcome.startswith("corrupt: ") and len(outcome) > 9), outcome
    else:
        assert document.pages and document.page_count >= len(document.pages)
        assert all(1 <= page.number <= document.page_count and page.text.strip() for page in document.pages)
        outcome = "ok"
    elapsed = time.monotonic() - started
    assert elapsed < HANG_SECONDS, f"read_pdf took {elapsed:.1f} s ({outcome})"
    return outcome


def outcome_family(outcome: str) -> str:
    """ "ok", a known reason, or the first words of a "corrupt: ..." detail (for hypothesis statistics)."""
    return " ".join(outcome.split()[:3]) if outcome.startswith("corrupt") else outcome


def fuzz_settings(examples: int) -> Callable[[Callable[..., None]], Callable[..., None]]:
    return settings(
        max_examples=examples,
        deadline=None,  # read_one enforces its own limit
        database=None,  # nothing written into the repository
        derandomize=True,  # the same examples on every run: a failure here is reproducible
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
    )


def check_small(tmp_path: Path, data: st.DataObject) -> None:
    blobs = seeds(tmp_path.parent / "fuzz-seeds")
    name = data.draw(st.sampled_from(sorted(blobs)))
    edits = data.draw(st.lists(mutations, min_size=1, max_size=4))
    path = tmp_path / "mutated.pdf"
    path.write_bytes(mutate(blobs[name], edits))
    event(f"{name}: {outcome_family(read_one(path))}")


@fuzz_settings(FUZZ_EXAMPLES)
@given(data=st.data())
def test_mutated_small_pdfs_are_read_or_refused_with_a_reason(tmp_path: Path, data: st.DataObject) -> None:
    check_small(tmp_path, data)


@pytest.mark.soak
@pytest.mark.slow
@fuzz_settings(SOAK_FUZZ_EXAMPLES)
@given(data=st.data())
def test_soak_mutated_small_pdfs(tmp_path: Path, data: st.DataObject) -> None:
    check_small(tmp_path, data)


def corpus_files() -> list[Path]:
    return sorted(CORPUS.glob("*.pdf")) if CORPUS.is_dir() else []


def check_corpus(tmp_path: Path, data: st.DataObject) -> None:
    files = corpus_files()
    if not files:
        pytest.skip("../shared/corpus is not present")
    source = data.draw(st.sampled_from(files))
    edits = data.draw(st.lists(mutations, min_size=1, max_size=8))
    path = tmp_path / "mutated.pdf"
    path.write_bytes(mutate(source.read_bytes(), edits))
    event(f"{source.name}: {outcome_family(read_one(path))}")


@pytest.mark.corpus
@fuzz_settings(CORPUS_EXAMPLES)
@given(data=st.data())
def test_mutated_corpus_pdfs_are_read_or_refused_within_the_time_limit(
    tmp_path: Path, data: st.DataObject
) -> None:
    check_corpus(tmp_path, data)


@pytest.mark.corpus
@pytest.mark.soak
@pytest.mark.slow
@fuzz_settings(SOAK_CORPUS_EXAMPLES)
@given(data=st.data())
def test_soak_mutated_corpus_pdfs(tmp_path: Path, data: st.DataObject) -> None:
    check_corpus(tmp_path, data)


def random_edits(rng: random.Random) -> list[Mutation]:
    kinds = ["flip", "overwrite", "insert", "delete", "truncate"]
    return [
        Mutation(rng.choice(kinds), rng.random(), rng.randint(1, 64), rng.choice(PDF_TOKENS))
        for _ in range(rng.randint(1, 4))
    ]


def test_a_folder_of_mutated_pdfs_syncs_with_every_failure_recorded(
    tmp_path: Path, embeddings: Embeddings
) -> None:
    """Through the sync: the run finishes, every file is indexed or failed with a reason, index consistent."""
    rng = random.Random(6)
    blobs = seeds(tmp_path / "seeds")
    data = tmp_path / "data"
    data.mkdir()
    names = []
    for n in range(24):
        name = rng.choice(sorted(blobs))
        (data / f"{n:02d}-{name}.pdf").write_bytes(mutate(blobs[name], random_edits(rng)))
        names.append(f"{n:02d}-{name}.pdf")
    (data / "empty.pdf").write_bytes(b"")
    store = IndexStore(tmp_path / "index", dim=384, model_id="minilm")
    report = sync_folder(data, store, embeddings, SyncOptions(max_seconds_per_file=MAX_SECONDS))
    failed = {f.file: f.reason for f in report.failed}
    assert sorted([*report.indexed, *failed]) == sorted([*names, "empty.pdf"])
    assert failed["empty.pdf"] == EMPTY_FILE and all(reason.strip() for reason in failed.values())
    recorded = {f.file: f.reason for f in store.status().failed}
    assert recorded == failed  # remembered, so they are retried only when they change
    assert store.check() == []
    assert report.indexed and len(failed) > 1  # the mutations produced both outcomes
    store.close()
