"""keras.utils.get_file against a loopback HTTP server: cache, hashes, failures, safe extraction."""
import hashlib
import io
import os
import tarfile
import urllib.request
import zipfile

import pytest

import minigraph as keras
from minigraph import file_utils
from loopback_server import closed_port_url, serve

PAYLOAD = b"minigraph get_file test payload\n" * 100
SHA256 = hashlib.sha256(PAYLOAD).hexdigest()
MD5 = hashlib.md5(PAYLOAD).hexdigest()


def _listing(folder):
    return sorted(os.listdir(folder)) if os.path.isdir(folder) else []


def test_downloads_once_into_keras_home_then_serves_the_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("KERAS_HOME", str(tmp_path / "home"))
    with serve({"data.bin": PAYLOAD}) as (base, server):
        path = keras.utils.get_file(origin=base + "data.bin", file_hash=SHA256)
        assert path == str(tmp_path / "home" / "datasets" / "data.bin")
        assert open(path, "rb").read() == PAYLOAD
        again = keras.utils.get_file(origin=base + "data.bin", file_hash=SHA256)
        assert again == path
        assert server.requests == ["data.bin"]  # the second call read the cache
        keras.utils.get_file(origin=base + "data.bin", file_hash=SHA256, force_download=True)
        assert server.requests == ["data.bin", "data.bin"]
    assert _listing(tmp_path / "home" / "datasets") == ["data.bin"]  # no temporary file left


def test_default_cache_is_dot_keras_in_home(tmp_path, monkeypatch):
    monkeypatch.delenv("KERAS_HOME", raising=False)
    monkeypatch.setenv("HOME", str(tmp_path))
    assert file_utils.keras_home() == str(tmp_path / ".keras")


def test_fname_cache_dir_and_cache_subdir(tmp_path):
    with serve({"x/data.bin": PAYLOAD}) as (base, _):
        path = keras.utils.get_file("renamed.bin", base + "x/data.bin", cache_dir=str(tmp_path), cache_subdir="sub")
    assert path == str(tmp_path / "sub" / "renamed.bin")
    assert open(path, "rb").read() == PAYLOAD


def test_md5_hash_and_md5_hash_argument(tmp_path):
    with serve({"data.bin": PAYLOAD}) as (base, _):
        assert keras.utils.get_file(origin=base + "data.bin", file_hash=MD5, cache_dir=str(tmp_path))
        os.remove(tmp_path / "datasets" / "data.bin")
        assert keras.utils.get_file(origin=base + "data.bin", md5_hash=MD5, cache_dir=str(tmp_path))
    assert file_utils.validate_file(str(tmp_path / "datasets" / "data.bin"), MD5)
    assert file_utils.validate_file(str(tmp_path / "datasets" / "data.bin"), SHA256)
    assert not file_utils.validate_file(str(tmp_path / "datasets" / "data.bin"), "0" * 64)


def test_hash_mismatch_leaves_nothing_and_names_the_url(tmp_path):
    with serve({"data.bin": PAYLOAD}) as (base, _):
        with pytest.raises(ValueError) as err:
            keras.utils.get_file(origin=base + "data.bin", file_hash="0" * 64, cache_dir=str(tmp_path))
    assert base + "data.bin" in str(err.value) and SHA256 in str(err.value)
    assert _listing(tmp_path / "datasets") == []


def test_stale_cached_file_is_downloaded_again(tmp_path, capsys):
    (tmp_path / "datasets").mkdir()
    (tmp_path / "datasets" / "data.bin").write_bytes(b"an older, different file")
    with serve({"data.bin": PAYLOAD}) as (base, server):
        path = keras.utils.get_file(origin=base + "data.bin", file_hash=SHA256, cache_dir=str(tmp_path))
        assert server.requests == ["data.bin"]
    assert open(path, "rb").read() == PAYLOAD
    assert "hash does not match" in capsys.readouterr().out


def test_http_error_names_the_url_and_where_to_put_the_file(tmp_path):
    with serve({}) as (base, _):
        with pytest.raises(file_utils.DownloadError) as err:
            keras.utils.get_file(origin=base + "missing.bin", cache_dir=str(tmp_path))
    message = str(err.value)
    assert base + "missing.bin" in message and "404" in message
    assert str(tmp_path / "datasets" / "missing.bin") in message
    assert _listing(tmp_path / "datasets") == []


def test_offline_error_names_the_url(tmp_path):
    url = closed_port_url() + "data.bin"
    with pytest.raises(OSError) as err:
        keras.utils.get_file(origin=url, cache_dir=str(tmp_path))
    assert url in str(err.value) and "download" in str(err.value)
    assert _listing(tmp_path / "datasets") == []


def test_connection_dropped_midway_leaves_nothing(tmp_path):
    with serve({"data.bin": PAYLOAD}, truncate={"data.bin": 100}) as (base, _):
        with pytest.raises(file_utils.DownloadError) as err:
            keras.utils.get_file(origin=base + "data.bin", cache_dir=str(tmp_path))
    assert base + "data.bin" in str(err.value)
    assert _listing(tmp_path / "datasets") == []


def test_interrupted_download_leaves_nothing(tmp_path, monkeypatch):
    class Interrupting(io.BytesIO):
        headers = {"Content-Length": str(len(PAYLOAD))}
        calls = 0

        def read(self, n=-1):
            Interrupting.calls += 1
            if Interrupting.calls > 2:
                raise KeyboardInterrupt
            return super().read(1000)

        def __enter__(self):
            return self

        def __exit__(self, *exc):
            return False

    monkeypatch.setattr(urllib.request, "urlopen", lambda *a, **k: Interrupting(PAYLOAD))
    with pytest.raises(KeyboardInterrupt):
        keras.utils.get_file(origin="https://example.invalid/data.bin", cache_dir=str(tmp_path))
    assert _listing(tmp_path / "datasets") == []


def test_progress_bar_on_a_long_download(tmp_path, capsys):
    big = bytes(range(256)) * 8192  # 2 MiB: over the bar's threshold
    with serve({"big.bin": big}) as (base, _):
        keras.utils.get_file(origin=base + "big.bin", cache_dir=str(tmp_path))
    out = capsys.readouterr().out
    assert f"Downloading data from {base}big.bin" in out
    assert f"{len(big)}/{len(big)} [" in out


def test_bad_arguments():
    with pytest.raises(ValueError, match="origin"):
        keras.utils.get_file("x.bin")
    with pytest.raises(ValueError, match="fname"):
        keras.utils.get_file(os.path.join("a", "b.bin"), origin="http://127.0.0.1/b.bin")
    with pytest.raises(ValueError, match="hash_algorithm"):
        keras.utils.get_file("b.bin", origin="http://127.0.0.1/b.bin", hash_algorithm="sha1")
    with pytest.raises(TypeError, match="unknown_argument"):
        keras.utils.get_file("b.bin", origin="http://127.0.0.1/b.bin", unknown_argument=1)


# ---------------------------------------------------------------------------------------------- archives
def _tar_gz(entries, links=()):
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as archive:
        for name, data in entries.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            archive.addfile(info, io.BytesIO(data))
        for name, target, kind in links:
            info = tarfile.TarInfo(name)
            info.type = kind
            info.linkname = target
            archive.addfile(info)
    return buffer.getvalue()


def _zip(entries, symlinks=()):
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, data in entries.items():
            archive.writestr(name, data)
        for name, target in symlinks:
            info = zipfile.ZipInfo(name)
            info.external_attr = (0o120777 << 16)
            archive.writestr(info, target)
    return buffer.getvalue()


def test_extract_tar_gz_as_keras_lays_it_out(tmp_path):
    archive = _tar_gz({"pack/a.txt": b"alpha", "pack/sub/b.txt": b"beta"})
    with serve({"pack.tar.gz": archive}) as (base, server):
        folder = keras.utils.get_file("pack", base + "pack.tar.gz", extract=True, cache_dir=str(tmp_path))
        assert folder == str(tmp_path / "datasets" / "pack")
        assert open(os.path.join(folder, "pack", "sub", "b.txt"), "rb").read() == b"beta"
        assert _listing(tmp_path / "datasets") == ["pack", "pack_archive"]
        keras.utils.get_file("pack", base + "pack.tar.gz", extract=True, cache_dir=str(tmp_path))
        assert server.requests == ["pack.tar.gz"]
        # fname with a suffix: the archive keeps the name, the folder is <stem>_extracted
        folder = keras.utils.get_file("pack.tar.gz", base + "pack.tar.gz", extract=True, cache_dir=str(tmp_path))
    assert folder == str(tmp_path / "datasets" / "pack_extracted")
    assert open(os.path.join(folder, "pack", "a.txt"), "rb").read() == b"alpha"


def test_extract_zip_and_untar(tmp_path):
    with serve({"z.zip": _zip({"z/c.txt": b"gamma"}), "t.tar.gz": _tar_gz({"d.txt": b"delta"})}) as (base, _):
        folder = keras.utils.get_file("z", base + "z.zip", extract=True, cache_dir=str(tmp_path))
        assert open(os.path.join(folder, "z", "c.txt"), "rb").read() == b"gamma"
        folder = keras.utils.get_file("t", base + "t.tar.gz", untar=True, cache_dir=str(tmp_path))
        assert open(os.path.join(folder, "d.txt"), "rb").read() == b"delta"


@pytest.mark.parametrize("archive_bytes, fname, bad_entry", [
    (_tar_gz({"../escape.txt": b"x"}), "t1.tar.gz", "../escape.txt"),
    (_tar_gz({"/abs/escape.txt": b"x"}), "t2.tar.gz", "/abs/escape.txt"),
    (_tar_gz({"ok.txt": b"x"}, links=[("link", "/etc/passwd", tarfile.SYMTYPE)]), "t3.tar.gz", "link"),
    (_tar_gz({"ok.txt": b"x"}, links=[("hard", "ok.txt", tarfile.LNKTYPE)]), "t4.tar.gz", "hard"),
    (_zip({"../escape.txt": b"x"}), "z1.zip", "../escape.txt"),
    (_zip({"/abs.txt": b"x"}), "z2.zip", "/abs.txt"),
    (_zip({"ok.txt": b"x"}, symlinks=[("link", "/etc/passwd")]), "z3.zip", "link"),
])
def test_unsafe_archive_entries_are_refused_and_nothing_is_unpacked(tmp_path, archive_bytes, fname, bad_entry):
    with serve({fname: archive_bytes}) as (base, _):
        with pytest.raises(ValueError) as err:
            keras.utils.get_file("unpacked", base + fname, extract=True, cache_dir=str(tmp_path / "cache"))
    assert repr(bad_entry) in str(err.value)
    assert _listing(tmp_path / "cache" / "datasets") == ["unpacked_archive"]  # the download, not unpacked
    assert not (tmp_path / "escape.txt").exists() and not (tmp_path / "cache" / "escape.txt").exists()


def test_not_an_archive_is_refused(tmp_path):
    with serve({"plain.bin": PAYLOAD}) as (base, _):
        with pytest.raises(ValueError, match="not a tar or zip archive"):
            keras.utils.get_file("plain", base + "plain.bin", extract=True, cache_dir=str(tmp_path))


def test_archive_format_none_keeps_the_archive_packed(tmp_path):
    with serve({"t.tar.gz": _tar_gz({"d.txt": b"delta"})}) as (base, _):
        with pytest.warns(UserWarning, match="not extracted"):
            folder = keras.utils.get_file("t", base + "t.tar.gz", extract=True, archive_format=None,
                                          cache_dir=str(tmp_path))
    assert not os.path.exists(folder) and _listing(tmp_path / "datasets") == ["t_archive"]
    with pytest.raises(ValueError, match="archive_format"):
        file_utils.extract_archive(str(tmp_path / "datasets" / "t_archive"), str(tmp_path / "x"), "rar")
