"""The tutorial baseline: builds from real PDFs, finds the right page, skips what it cannot read."""

from __future__ import annotations

from pathlib import Path

import pytest

from bench.tutorial import TutorialIndex, build_tutorial_index, load_or_build
from devtools.pdfs import make_text_pdf

PAGES = [
    "The cafeteria opens at seven in the morning and serves breakfast until ten.",
    "Annual revenue grew to four hundred million dollars, driven by subscription sales in Europe.",
    "Employees accrue twenty days of paid vacation each year, and unused days carry over.",
]


@pytest.fixture(scope="module")
def tutorial(tmp_path_factory: pytest.TempPathFactory) -> TutorialIndex:
    folder = tmp_path_factory.mktemp("tutorial")
    good = make_text_pdf(folder / "report.pdf", PAGES)
    locked = make_text_pdf(folder / "locked.pdf", ["Secret text."], encrypt_password="secret")
    no_password = make_text_pdf(folder / "open.pdf", ["Parking is free for visitors."], encrypt_password="")
    return build_tutorial_index([good, locked, no_password])


def test_finds_the_page_that_answers(tutorial: TutorialIndex) -> None:
    assert tutorial.search("How many vacation days do employees get?", 1) == [("report.pdf", 3)]
    assert tutorial.search("How much did revenue grow?", 2)[0] == ("report.pdf", 2)


def test_chunks_are_the_texts_of_the_nearest_pages(tutorial: TutorialIndex) -> None:
    texts = tutorial.chunks("When does the cafeteria open?", 2)
    assert len(texts) == 2
    assert "cafeteria" in texts[0]


def test_password_file_is_recorded_and_empty_password_opens(tutorial: TutorialIndex) -> None:
    timings = tutorial.timings
    assert set(timings.failed) == {"locked.pdf"}
    assert timings.files == ["report.pdf", "open.pdf"]
    assert timings.pages == 4 and timings.chunks == 4 == len(tutorial)
    assert tutorial.search("Is parking free for visitors?", 1) == [("open.pdf", 1)]
    assert timings.seconds >= timings.embed_seconds > 0


def test_save_and_load_round_trip(tutorial: TutorialIndex, tmp_path: Path) -> None:
    tutorial.save(tmp_path / "saved")
    loaded = TutorialIndex.load(tmp_path / "saved")
    assert len(loaded) == len(tutorial)
    assert loaded.timings.failed == tutorial.timings.failed
    question = "How many vacation days do employees get?"
    assert loaded.search(question, 2) == tutorial.search(question, 2)


def test_load_or_build_reuses_only_an_index_of_the_same_files(tmp_path: Path) -> None:
    pdf = make_text_pdf(tmp_path / "a.pdf", ["Parking is free for visitors."])
    first, reused = load_or_build([pdf], tmp_path / "saved")
    assert not reused and len(first) == 1
    again, reused = load_or_build([pdf], tmp_path / "saved")
    assert reused and again.search("parking", 1) == [("a.pdf", 1)]
    make_text_pdf(pdf, ["Parking costs five dollars.", "A second page."])
    rebuilt, reused = load_or_build([pdf], tmp_path / "saved")
    assert not reused and rebuilt.timings.pages == 2
