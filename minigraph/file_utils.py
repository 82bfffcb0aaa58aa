"""keras.utils.get_file: download a file once into the Keras cache, check it, and unpack archives safely.

A download is written to a temporary file beside its target, checked against the expected hash, and only
then renamed into place, so the cache never holds a partial or wrong file under the real name.
"""
import hashlib
import os
import shutil
import stat
import sys
import tarfile
import tempfile
import time
import urllib.error
import urllib.parse
import warnings
import zipfile

_CHUNK_BYTES = 1 << 16
_PROGRESS_MIN_BYTES = 1 << 20  # smaller downloads finish before a bar would say anything
_SOCKET_TIMEOUT_SECONDS = 60  # a stalled server raises instead of hanging the caller


class DownloadError(OSError):
    """A download failed (network, HTTP status, short read): nothing was written to the cache."""


def keras_home():
    """The cache root: $KERAS_HOME, else ~/.keras (as Keras 3)."""
    return os.environ.get("KERAS_HOME") or os.path.join(os.path.expanduser("~"), ".keras")


def resolve_hasher(algorithm, file_hash=None):
    """hashlib object for 'sha256', 'md5' or 'auto' (sha256 for a 64-digit hash, else md5, as Keras)."""
    if algorithm not in ("auto", "sha256", "md5"):
        raise ValueError(f"get_file: hash_algorithm must be 'auto', 'sha256' or 'md5', got {algorithm!r}")
    if algorithm == "sha256" or algorithm == "auto" and file_hash is not None and len(file_hash) == 64:
        return hashlib.sha256()
    return hashlib.md5()


def hash_file(fpath, algorithm="sha256"):
    hasher = resolve_hasher(algorithm) if isinstance(algorithm, str) else algorithm
    with open(fpath, "rb") as f:
        for chunk in iter(lambda: f.read(_CHUNK_BYTES), b""):
            hasher.update(chunk)
    return hasher.hexdigest()


def validate_file(fpath, file_hash, algorithm="auto"):
    """Whether the file at fpath has the given sha256 or md5 hex digest."""
    return hash_file(fpath, resolve_hasher(algorithm, file_hash)) == str(file_hash).lower()


def get_file(fname=None, origin=None, untar=False, md5_hash=None, file_hash=None, cache_subdir="datasets",
             hash_algorithm="auto", extract=False, archive_format="auto", cache_dir=None, force_download=False):
    """Download `origin` into `<cache_dir>/<cache_subdir>/<fname>` unless it is cached; return its path.

    With extract=True (or untar=True) the archive is unpacked and the path of the unpacked folder is
    returned, laid out as Keras 3 lays it out: for fname "name" the archive is kept as "name_archive" and
    unpacked into "name"; for "name.tar.gz" it is kept under that name and unpacked into "name_extracted".
    """
    if origin is None:
        raise ValueError('get_file: please specify the "origin" argument (URL of the file to download)')
    if md5_hash is not None and file_hash is None:
        file_hash, hash_algorithm = md5_hash, "md5"
    resolve_hasher(hash_algorithm)  # refuse an unknown algorithm before any download
    datadir = os.path.join(_writable_cache_root(cache_dir), cache_subdir)
    os.makedirs(datadir, exist_ok=True)

    provided_fname = os.fspath(fname) if fname is not None else None
    fname = provided_fname or os.path.basename(urllib.parse.urlsplit(origin).path)
    if not fname:
        raise ValueError(f"get_file: can't parse a file name from origin '{origin}'; pass `fname`")
    if os.sep in fname or (os.altsep and os.altsep in fname):
        raise ValueError(f"get_file: `fname` must be a file name, not a path (use `cache_dir` for the folder); "
                         f"got fname={fname!r}")
    extraction_dir = None
    if extract or untar:
        if provided_fname and "." in fname:
            download_target = os.path.join(datadir, fname)
            extraction_dir = os.path.join(datadir, fname[:fname.find(".")] + "_extracted")
        else:
            extraction_dir = os.path.join(datadir, fname)
            download_target = os.path.join(datadir, fname + "_archive")
    else:
        download_target = os.path.join(datadir, fname)

    downloaded = force_download or not os.path.exists(download_target)
    if not downloaded and file_hash is not None and not validate_file(download_target, file_hash, hash_algorithm):
        print(f"A local file was found at {download_target}, but its {_algorithm_name(hash_algorithm, file_hash)} "
              f"hash does not match {file_hash}: downloading it again.")
        downloaded = True
    if downloaded:
        _download(origin, download_target, file_hash, hash_algorithm)

    if extraction_dir is None:
        return download_target
    if downloaded or not os.path.isdir(extraction_dir):
        if not extract_archive(download_target, extraction_dir, "tar" if untar else archive_format):
            warnings.warn(f"get_file: archive_format={archive_format!r}: {download_target} was not extracted",
                          stacklevel=2)
    return extraction_dir


def _writable_cache_root(cache_dir):
    root = os.path.expanduser(os.fspath(cache_dir) if cache_dir is not None else keras_home())
    try:
        os.makedirs(root, exist_ok=True)
    except OSError:
        pass
    if os.access(root, os.W_OK):
        return root
    return os.path.join(tempfile.gettempdir(), ".keras")  # Keras' fallback for a read-only home


def _algorithm_name(algorithm, file_hash):
    return resolve_hasher(algorithm, file_hash).name


def _download(origin, target, file_hash, hash_algorithm):
    """Fetch origin into a temporary file beside target, check its hash, rename it into place."""
    print(f"Downloading data from {origin}")
    fd, partial = tempfile.mkstemp(prefix=os.path.basename(target) + ".", suffix=".part",
                                   dir=os.path.dirname(target))
    try:
        with os.fdopen(fd, "wb") as out:
            _fetch(origin, out, target)
        if file_hash is not None and not validate_file(partial, file_hash, hash_algorithm):
            got = hash_file(partial, resolve_hasher(hash_algorithm, file_hash))
            raise ValueError(f"get_file: the file downloaded from {origin} is incomplete or corrupted: its "
                             f"{_algorithm_name(hash_algorithm, file_hash)} hash is {got}, expected {file_hash}. "
                             f"Nothing was saved to {target}.")
        os.replace(partial, target)
    except BaseException:  # an interrupt too: never leave the partial file behind
        if os.path.exists(partial):
            os.remove(partial)
        raise


def _fetch(origin, out, target):
    def fail(reason):
        return DownloadError(
            f"URL fetch failure on {origin}: {reason}. To use the file without network access, download "
            f"{origin} by other means and save it as {target}")
    import urllib.request  # here, not at the top: it pulls in http.client and ssl, which `import minigraph` needn't

    try:
        with urllib.request.urlopen(origin, timeout=_SOCKET_TIMEOUT_SECONDS) as response:
            length = response.headers.get("Content-Length")
            total = int(length) if length and length.isdigit() else None
            bar = _DownloadProgress(total)
            received = 0
            for chunk in iter(lambda: response.read(_CHUNK_BYTES), b""):
                out.write(chunk)
                received += len(chunk)
                bar.update(received)
            bar.finish(received)
    except urllib.error.HTTPError as err:
        raise fail(f"{err.code} -- {err.reason}") from None
    except urllib.error.URLError as err:
        raise fail(f"{getattr(err.reason, 'errno', None)} -- {err.reason}") from None
    except (OSError, ValueError) as err:  # connection reset, timeout, malformed URL
        raise fail(f"{type(err).__name__} -- {err}") from None
    if total is not None and received != total:
        raise fail(f"the connection closed after {received} of {total} bytes")


class _DownloadProgress:
    """A one-line byte counter with a bar, drawn for downloads of a megabyte or more (or of unknown size)."""

    _WIDTH = 30
    _REDRAW_SECONDS = 0.1

    def __init__(self, total):
        self.total = total
        self.shown = total is None or total >= _PROGRESS_MIN_BYTES
        self.start = self.last_draw = time.monotonic()
        self.last_len = 0

    def update(self, current, final=False):
        if not self.shown:
            return
        now = time.monotonic()
        if not final and now - self.last_draw < self._REDRAW_SECONDS:
            return
        self.last_draw = now
        elapsed = now - self.start
        if self.total:
            done = int(self._WIDTH * min(current, self.total) / self.total)
            bar = "=" * done + (">" if done < self._WIDTH else "") + "." * (self._WIDTH - done - 1)
            line = f"{current}/{self.total} [{bar[:self._WIDTH]}] - {elapsed:.0f}s"
        else:
            line = f"{current} bytes - {elapsed:.0f}s"
        sys.stdout.write("\r" + line + " " * max(0, self.last_len - len(line)))
        self.last_len = len(line)
        if final:
            sys.stdout.write("\n")
        sys.stdout.flush()

    def finish(self, current):
        self.update(current, final=True)


# ---------------------------------------------------------------------------------------------- archives
def extract_archive(file_path, path=".", archive_format="auto"):
    """Unpack a tar (plain, gz, bz2, xz) or zip archive into `path`; True when one was unpacked.

    Every entry is checked first: one that would land outside `path` (an absolute name, `..`), a link, or
    a device is refused with a ValueError and nothing is unpacked. The archive is unpacked into a
    temporary folder beside `path` and renamed into place, so a failure leaves no half-filled folder.
    """
    if archive_format is None or archive_format == []:
        return False
    formats = ["tar", "zip"] if archive_format == "auto" else (
        [archive_format] if isinstance(archive_format, str) else list(archive_format))
    for fmt in formats:
        if fmt not in ("tar", "zip"):
            raise ValueError(f"extract_archive: archive_format must be 'auto', 'tar', 'zip' or None, got {fmt!r}")
    for fmt in formats:
        if fmt == "tar" and tarfile.is_tarfile(file_path):
            with tarfile.open(file_path) as archive:
                _unpack_atomically(file_path, path, lambda dest: _extract_tar(archive, file_path, dest))
            return True
        if fmt == "zip" and zipfile.is_zipfile(file_path):
            with zipfile.ZipFile(file_path) as archive:
                _unpack_atomically(file_path, path, lambda dest: _extract_zip(archive, file_path, dest))
            return True
    raise ValueError(f"extract_archive: {file_path} is not a {' or '.join(formats)} archive")


def _unpack_atomically(file_path, path, unpack):
    parent = os.path.dirname(os.path.abspath(path))
    os.makedirs(parent, exist_ok=True)
    staging = tempfile.mkdtemp(prefix=os.path.basename(path) + ".", suffix=".partial", dir=parent)
    try:
        unpack(staging)
        if os.path.isdir(path):
            shutil.rmtree(path)
        elif os.path.exists(path):
            os.remove(path)
        os.replace(staging, path)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise


def _checked_member_path(name, archive_path, dest):
    """The path an entry would be written to, or a ValueError when it would leave dest."""
    if not name or os.path.isabs(name) or name.startswith(("/", "\\")) or (len(name) > 1 and name[1] == ":"):
        raise ValueError(f"extract_archive: refusing entry {name!r} of {archive_path}: absolute path")
    root = os.path.realpath(dest)
    target = os.path.realpath(os.path.join(root, name))
    if os.path.commonpath([root, target]) != root:
        raise ValueError(f"extract_archive: refusing entry {name!r} of {archive_path}: it would be written "
                         f"outside {dest}")
    return target


def _extract_tar(archive, archive_path, dest):
    def kind(member):
        return ("link" if member.issym() or member.islnk() else "dir" if member.isdir()
                else "file" if member.isfile() else "other")
    _extract_members([(m.name, kind(m), lambda m=m: archive.extractfile(m)) for m in archive.getmembers()],
                     archive_path, dest)


def _extract_zip(archive, archive_path, dest):
    def kind(info):
        return "link" if stat.S_ISLNK(info.external_attr >> 16) else "dir" if info.is_dir() else "file"
    _extract_members([(i.filename, kind(i), lambda i=i: archive.open(i)) for i in archive.infolist()],
                     archive_path, dest)


def _extract_members(members, archive_path, dest):
    """Write (name, kind, open) members into dest, kind being 'file', 'dir', 'link' or 'other'; every member
    is checked before the first is written, so a refused archive writes nothing."""
    for name, kind, _ in members:
        _checked_member_path(name, archive_path, dest)
        if kind == "link":
            raise ValueError(f"extract_archive: refusing entry {name!r} of {archive_path}: links are not unpacked")
        if kind == "other":
            raise ValueError(f"extract_archive: refusing entry {name!r} of {archive_path}: not a regular file or "
                             f"folder")
    for name, kind, open_member in members:
        target = _checked_member_path(name, archive_path, dest)
        if kind == "dir":
            os.makedirs(target, exist_ok=True)
            continue
        os.makedirs(os.path.dirname(target), exist_ok=True)
        with open_member() as src, open(target, "wb") as out:
            shutil.copyfileobj(src, out, _CHUNK_BYTES)
