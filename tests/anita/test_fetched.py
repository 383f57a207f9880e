"""Downloaded inputs are used only with their pinned digest."""
from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from devtools.installed import fetched
from devtools.loop.tree import TreeError


def test_check_passes_the_pinned_file_and_names_a_changed_one(tmp_path: Path) -> None:
    f = tmp_path / "a.tar.gz"
    f.write_bytes(b"x" * (3 << 20))  # more than one read chunk
    assert fetched.check(f, hashlib.sha256(f.read_bytes()).hexdigest()) == f
    assert fetched.check(f, hashlib.sha512(f.read_bytes()).hexdigest(), "sha512") == f
    with pytest.raises(TreeError, match=r"a\.tar\.gz: SHA-256 .*, expected 00; delete it to fetch again"):
        fetched.check(f, "00")
    assert f.exists()  # left for a look


def test_directory_is_in_the_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SOTIMESTAMP_CACHE", str(tmp_path / "c"))
    assert fetched.directory() == tmp_path / "c" / "downloads" and fetched.directory().is_dir()


class _Files:
    """A local HTTP server for download tests: path -> body, anything else 404."""

    def __init__(self, files: dict[str, bytes]) -> None:
        import http.server
        import threading

        served = files

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 (the stdlib's name)
                body = served.get(self.path)
                if body is None:
                    self.send_error(404)
                    return
                self.send_response(200)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: object) -> None:
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def served(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):  # type: ignore[no-untyped-def]
    monkeypatch.setenv("SOTIMESTAMP_CACHE", str(tmp_path / "c"))
    body = bytes(range(256)) * 20000  # 5 MB: several chunks
    files = _Files({"/pkg/sqlite3-5.1.7.tgz": body})
    yield files, body
    files.close()


def test_download_streams_the_pinned_file_once(served) -> None:  # type: ignore[no-untyped-def]
    files, body = served
    pin = hashlib.sha256(body).hexdigest()
    path = fetched.download(f"{files.url}/pkg/sqlite3-5.1.7.tgz", pin)
    assert path == fetched.directory() / "sqlite3-5.1.7.tgz" and path.read_bytes() == body
    files.close()  # the second call must not need the server
    assert fetched.download(f"{files.url}/pkg/sqlite3-5.1.7.tgz", pin) == path


def test_download_of_another_file_keeps_nothing(served) -> None:  # type: ignore[no-untyped-def]
    files, body = served
    with pytest.raises(TreeError, match=r"download http://127\.0\.0\.1:\d+/pkg/sqlite3-5\.1\.7\.tgz: not the pinned file"):
        fetched.download(f"{files.url}/pkg/sqlite3-5.1.7.tgz", "00" * 32)
    assert list(fetched.directory().iterdir()) == []


def test_download_http_error_names_the_url_and_keeps_nothing(served) -> None:  # type: ignore[no-untyped-def]
    files, _ = served
    with pytest.raises(TreeError, match=r"download http://127\.0\.0\.1:\d+/pkg/missing\.tgz: 404"):
        fetched.download(f"{files.url}/pkg/missing.tgz", "00" * 32)
    assert list(fetched.directory().iterdir()) == []
