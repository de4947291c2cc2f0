"""`make model` logic against a local HTTP server with Range support standing in for the hub."""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from models import download
from models.download import DownloadError, HttpTransport, ModelSpec, download_model

BODY = bytes(range(256)) * 4096 + b"tail"  # about 1 MiB, so the copy loop runs more than once
SHA = hashlib.sha256(BODY).hexdigest()


@dataclass
class Behaviour:
    """What the stand-in server does; tests change it between requests."""

    body: bytes = BODY
    etag: str | None = SHA
    honour_range: bool = True
    drop_after: int | None = None  # close the connection after this many body bytes
    ranges: list[str | None] = field(default_factory=list)
    gets: int = 0
    heads: int = 0


class _Handler(BaseHTTPRequestHandler):
    behaviour: Behaviour

    def log_message(self, format: str, *args: object) -> None:
        pass

    def _headers(self, status: int, length: int, extra: dict[str, str]) -> None:
        self.send_response(status)
        self.send_header("Content-Length", str(length))
        if self.behaviour.etag:
            self.send_header("ETag", f'"{self.behaviour.etag}"')
        for key, value in extra.items():
            self.send_header(key, value)
        self.end_headers()

    def do_HEAD(self) -> None:
        self.behaviour.heads += 1
        self._headers(200, len(self.behaviour.body), {})

    def do_GET(self) -> None:
        b = self.behaviour
        b.gets += 1
        if self.path.startswith("/missing"):
            self.send_error(404)
            return
        header = self.headers.get("Range")
        b.ranges.append(header)
        start = int(header.removeprefix("bytes=").rstrip("-")) if header and b.honour_range else 0
        if start >= len(b.body) and header:
            self.send_response(416)
            self.send_header("Content-Range", f"bytes */{len(b.body)}")
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        data = b.body[start:]
        extra = {"Content-Range": f"bytes {start}-{len(b.body) - 1}/{len(b.body)}"} if start else {}
        self._headers(206 if start else 200, len(data), extra)
        if b.drop_after is not None:
            data = data[: b.drop_after]
        self.wfile.write(data)
        self.wfile.flush()
        if b.drop_after is not None:
            self.close_connection = True


@pytest.fixture
def server() -> Iterator[tuple[str, Behaviour]]:
    behaviour = Behaviour()
    handler = type("Handler", (_Handler,), {"behaviour": behaviour})
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.01}, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}/model.gguf", behaviour
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join(10)


def _spec(size: int | None = len(BODY), sha256: str | None = SHA) -> ModelSpec:
    return ModelSpec("someone/tiny", "tiny.gguf", size=size, sha256=sha256)


def _get(spec: ModelSpec, dest: Path, url: str, **kwargs: object) -> Path:
    return download_model(spec, dest, transport=HttpTransport(timeout=10), url=url, **kwargs)  # type: ignore[arg-type]


def test_downloads_and_verifies(tmp_path: Path, server: tuple[str, Behaviour]) -> None:
    url, behaviour = server
    seen: list[tuple[int, int | None]] = []
    path = _get(_spec(), tmp_path, url, progress=lambda done, total: seen.append((done, total)))
    assert path == tmp_path / "tiny.gguf"
    assert path.read_bytes() == BODY
    assert not (tmp_path / "tiny.gguf.part").exists()
    assert behaviour.ranges == [None]
    assert seen[0] == (0, len(BODY)) and seen[-1] == (len(BODY), len(BODY))


def test_resumes_a_partial_file(tmp_path: Path, server: tuple[str, Behaviour]) -> None:
    url, behaviour = server
    (tmp_path / "tiny.gguf.part").write_bytes(BODY[:300_000])
    path = _get(_spec(), tmp_path, url)
    assert path.read_bytes() == BODY
    assert behaviour.ranges == ["bytes=300000-"]


def test_interrupted_download_keeps_the_part_and_resumes_next_time(
    tmp_path: Path, server: tuple[str, Behaviour]
) -> None:
    url, behaviour = server
    behaviour.drop_after = 200_000
    with pytest.raises(DownloadError, match="run again to resume"):
        _get(_spec(), tmp_path, url)
    assert not (tmp_path / "tiny.gguf").exists()
    kept = (tmp_path / "tiny.gguf.part").stat().st_size
    assert 0 < kept <= 200_000
    behaviour.drop_after = None
    assert _get(_spec(), tmp_path, url).read_bytes() == BODY
    assert behaviour.ranges[-1] == f"bytes={kept}-"


def test_server_ignoring_range_starts_over(tmp_path: Path, server: tuple[str, Behaviour]) -> None:
    url, behaviour = server
    behaviour.honour_range = False
    (tmp_path / "tiny.gguf.part").write_bytes(BODY[:1000])
    assert _get(_spec(), tmp_path, url).read_bytes() == BODY


def test_complete_part_file_needs_no_transfer(tmp_path: Path, server: tuple[str, Behaviour]) -> None:
    url, behaviour = server
    (tmp_path / "tiny.gguf.part").write_bytes(BODY)
    assert _get(_spec(), tmp_path, url).read_bytes() == BODY
    assert behaviour.gets == 0


def test_present_and_verified_means_no_download(tmp_path: Path, server: tuple[str, Behaviour]) -> None:
    url, behaviour = server
    (tmp_path / "tiny.gguf").write_bytes(BODY)
    assert _get(_spec(), tmp_path, url) == tmp_path / "tiny.gguf"
    assert behaviour.gets == 0 and behaviour.heads == 0


def test_present_but_corrupt_is_reported_not_replaced(tmp_path: Path, server: tuple[str, Behaviour]) -> None:
    url, behaviour = server
    corrupt = b"x" + BODY[1:]
    (tmp_path / "tiny.gguf").write_bytes(corrupt)
    with pytest.raises(DownloadError, match=r"exists but does not match .*sha256"):
        _get(_spec(), tmp_path, url)
    assert (tmp_path / "tiny.gguf").read_bytes() == corrupt
    assert behaviour.gets == 0


def test_present_but_short_is_resumed(tmp_path: Path, server: tuple[str, Behaviour]) -> None:
    url, behaviour = server
    (tmp_path / "tiny.gguf").write_bytes(BODY[:5000])
    assert _get(_spec(), tmp_path, url).read_bytes() == BODY
    assert behaviour.ranges == ["bytes=5000-"]


def test_sha_mismatch_leaves_no_file(tmp_path: Path, server: tuple[str, Behaviour]) -> None:
    url, behaviour = server
    behaviour.etag = None
    behaviour.body = b"y" + BODY[1:]
    with pytest.raises(DownloadError, match="sha256") as caught:
        _get(_spec(), tmp_path, url)
    assert "tiny.gguf" in str(caught.value)
    assert not (tmp_path / "tiny.gguf").exists()
    assert not (tmp_path / "tiny.gguf.part").exists()


def test_server_reporting_another_size_is_refused(tmp_path: Path, server: tuple[str, Behaviour]) -> None:
    url, behaviour = server
    behaviour.body = BODY + b"more"
    with pytest.raises(DownloadError, match="refusing to download"):
        _get(_spec(), tmp_path, url)
    assert behaviour.gets == 0
    assert not (tmp_path / "tiny.gguf").exists()


def test_server_reporting_another_sha_is_refused(tmp_path: Path, server: tuple[str, Behaviour]) -> None:
    url, behaviour = server
    behaviour.etag = "0" * 64
    with pytest.raises(DownloadError, match="refusing to download"):
        _get(_spec(), tmp_path, url)
    assert behaviour.gets == 0


def test_unknown_sha_uses_the_servers_and_catches_a_bad_body(
    tmp_path: Path, server: tuple[str, Behaviour]
) -> None:
    url, behaviour = server
    behaviour.body = b"z" + BODY[1:]  # the server's ETag still names the real file's sha256
    with pytest.raises(DownloadError, match="sha256"):
        _get(_spec(sha256=None), tmp_path, url)
    assert not (tmp_path / "tiny.gguf").exists()


def test_no_sha_anywhere_checks_the_size_only(
    tmp_path: Path, server: tuple[str, Behaviour], caplog: pytest.LogCaptureFixture
) -> None:
    url, behaviour = server
    behaviour.etag = None
    with caplog.at_level("WARNING"):
        assert _get(_spec(size=None, sha256=None), tmp_path, url).read_bytes() == BODY
    assert "checked the size only" in caplog.text


def test_http_error_is_a_download_error(tmp_path: Path, server: tuple[str, Behaviour]) -> None:
    url, _ = server
    with pytest.raises(DownloadError, match="download failed"):
        _get(_spec(), tmp_path, url.replace("/model.gguf", "/missing.gguf"))


def test_known_models_table() -> None:
    assert download.KNOWN_MODELS[download.DEFAULT_QUANT].filename == "llama-2-7b-chat.Q4_K_M.gguf"
    for spec in download.KNOWN_MODELS.values():
        assert spec.repo_id == "TheBloke/Llama-2-7B-Chat-GGUF"
        assert spec.size is not None and spec.size > 3_000_000_000
        assert spec.sha256 is None or len(spec.sha256) == 64


def test_main_downloads_from_a_mirror(
    tmp_path: Path,
    server: tuple[str, Behaviour],
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    url, _ = server
    monkeypatch.setitem(download.KNOWN_MODELS, "Q8_0", _spec())
    assert download.main(["--quant", "Q8_0", "--dest", str(tmp_path), "--url", url]) == 0
    assert (tmp_path / "tiny.gguf").read_bytes() == BODY
    out = capsys.readouterr().out
    assert "model ready" in out and "DOCBOT_MODEL_PATH=" in out


def test_main_reports_a_wrong_file_in_one_line(
    tmp_path: Path, server: tuple[str, Behaviour], capsys: pytest.CaptureFixture[str]
) -> None:
    url, _ = server
    assert download.main(["--dest", str(tmp_path), "--url", url]) == 1
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: llama-2-7b-chat.Q4_K_M.gguf") and "4081004224" in err
    assert "\n" not in err
    assert list(tmp_path.iterdir()) == []
