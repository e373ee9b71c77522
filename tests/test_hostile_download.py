"""Hostile downloads, on localhost only: typo'd roots, sibling roots, trickling and endless servers, zip bombs."""

from __future__ import annotations

import threading
import time
import zipfile
from collections.abc import Iterator
from functools import partial
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from tl_lightning.data import ImageFolderDataModule, datamodule, download
from tl_lightning.data.download import DatasetError, ensure_dataset


@pytest.fixture
def fake_digest(archive, monkeypatch) -> None:
    """The datamodule verifies against the fake archive's digest instead of the real dataset's."""
    monkeypatch.setattr(datamodule, "ensure_dataset", partial(ensure_dataset, sha256=archive[1]))


def test_a_missing_non_default_root_is_not_downloaded_into_unless_asked(tmp_path, archive, fake_digest):
    url, _ = archive
    typo = tmp_path / "dtaa" / "hymenoptera_data"
    module = ImageFolderDataModule(typo, image_size=64, url=url)  # data.download left at its default, auto
    with pytest.raises(DatasetError, match=rf"data.root={typo} does not exist.*pass data.download=true"):
        module.prepare_data()
    assert not typo.parent.exists()
    ImageFolderDataModule(typo, image_size=64, url=url, download=True).prepare_data()  # asked for: downloaded
    assert (typo / "train" / "ants").is_dir()


def test_the_default_root_is_downloaded_into_with_auto(tmp_path, archive, fake_digest, monkeypatch):
    url, _ = archive
    monkeypatch.chdir(tmp_path)
    ImageFolderDataModule("data/hymenoptera_data", image_size=64, url=url).prepare_data()
    assert (tmp_path / "data" / "hymenoptera_data" / "val" / "bees").is_dir()


def test_a_download_leaves_a_sibling_roots_download_in_progress_alone(tmp_path, archive):
    url, digest = archive
    sibling = tmp_path / f"{download.TMP_PREFIX}data-v2-k3j4h5g6"  # data-v2's download, still running
    (sibling / "x").mkdir(parents=True)
    stale = tmp_path / f"{download.TMP_PREFIX}data-a1b2c3d4"  # data's own killed download
    stale.mkdir()
    ensure_dataset(tmp_path / "data", url=url, sha256=digest)
    assert sibling.is_dir() and not stale.exists()


def serve(body: Iterator[bytes]) -> tuple[ThreadingHTTPServer, str]:
    """A localhost server answering every GET with the chunks of `body`, flushed one by one."""

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(200)
            self.end_headers()
            try:
                for chunk in body:
                    self.wfile.write(chunk)
                    self.wfile.flush()
            except (BrokenPipeError, ConnectionResetError):
                pass

        def log_message(self, *args) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, f"http://127.0.0.1:{server.server_address[1]}/hymenoptera_data.zip"


def trickle(seconds: float) -> Iterator[bytes]:
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        yield b"P"
        time.sleep(0.2)


def test_a_trickling_server_is_cut_off_by_the_total_time_limit(tmp_path, monkeypatch):
    monkeypatch.setattr(download, "MAX_SECONDS", 2, raising=False)
    server, url = serve(trickle(30))  # one byte every 0.2 s: no single read ever times out
    try:
        start = time.monotonic()
        with pytest.raises(DatasetError, match=r"took longer than 2 s \(\d+ bytes received\)"):
            ensure_dataset(tmp_path / "data", url=url, sha256=None)
        assert time.monotonic() - start < 10
    finally:
        server.shutdown()
    assert not list(tmp_path.iterdir()) or [p.name for p in tmp_path.iterdir()] == [".data.download.lock"]


def test_an_endless_server_is_cut_off_by_the_size_limit(tmp_path, monkeypatch):
    monkeypatch.setattr(download, "MAX_ARCHIVE_BYTES", 1 << 20, raising=False)
    server, url = serve(iter(lambda: bytes(1 << 16), None))
    try:
        with pytest.raises(DatasetError, match="exceeded 1 MB"):
            ensure_dataset(tmp_path / "data", url=url, sha256=None)
    finally:
        server.shutdown()


def test_a_zip_bomb_is_refused_from_its_directory_before_extraction(tmp_path, monkeypatch):
    monkeypatch.setattr(download, "MAX_EXTRACTED_BYTES", 1 << 20, raising=False)
    path = tmp_path / "bomb.zip"
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("hymenoptera_data/train/ants/a.jpg", bytes(8 << 20))  # 8 MB of zeros in 8 kB
    assert path.stat().st_size < 100_000
    root = tmp_path / "cache" / "data"
    extracted = []
    monkeypatch.setattr(zipfile.ZipFile, "extractall", lambda self, *a, **k: extracted.append(a))
    with pytest.raises(DatasetError, match=r"extract to 8,388,608 bytes in 1 entries, more than the 1,048,576 bytes"):
        ensure_dataset(root, url=path.as_uri(), sha256=None)
    assert not extracted and not root.exists()
