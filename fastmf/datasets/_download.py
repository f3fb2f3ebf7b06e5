"""Data home, verified downloads and atomic unpacking.

A download never poisons the cache: it streams into a hidden ``.part`` file in the data home,
its digests are checked before anything is unpacked, it is unpacked into a hidden temporary
folder there, and only a complete, verified folder is renamed into place (one rename on the
same file system). Whatever fails on the way, the partial file and folder are deleted.
"""

import hashlib
import http.client
import os
import shutil
import sys
import tarfile
import tempfile
import urllib.error
import urllib.request
import warnings
import zipfile
from pathlib import Path

from ._catalogue import get_entry, source_url

DATA_ENV = "FASTMF_DATA"
_CHUNK = 1 << 20
_TIMEOUT = 60  # seconds without a byte before giving up


class DatasetNotFoundError(OSError):
    """A data set's files are not in the data home and could not be downloaded (offline,
    ``download=False``, or a failed or cut-short download). The message says which files to
    put where, and the URL to get them from."""


class ChecksumMismatchError(OSError):
    """A download's digest differs from the one recorded in the catalogue; nothing was
    unpacked and the download was deleted."""


def get_data_home(data_home=None):
    """The folder that holds downloaded data sets.

    Parameters
    ----------
    data_home : str or path-like, optional
        Used as given when not None (``~`` is expanded).

    Returns
    -------
    pathlib.Path
        ``data_home`` if given; else the environment variable ``FASTMF_DATA`` if set and not
        empty; else a per-user cache folder, ``$XDG_CACHE_HOME/fastmf`` or
        ``~/.cache/fastmf``. The folder is not created here (a download creates it).
    """
    if data_home is None:
        data_home = os.environ.get(DATA_ENV, "").strip() or None
    if data_home is None:
        cache = os.environ.get("XDG_CACHE_HOME", "").strip() or Path.home() / ".cache"
        return Path(cache).expanduser() / "fastmf"
    return Path(os.fspath(data_home)).expanduser()


def dataset_files(entry, data_home=None):
    """Paths of the files ``entry`` needs in the data home."""
    folder = get_data_home(data_home) / entry.folder
    return [folder / f for f in entry.files]


def is_present(entry, data_home=None):
    return all(p.is_file() for p in dataset_files(entry, data_home))


def _size_text(n):
    if n is None:
        return "size not recorded"
    for unit in ("bytes", "KB", "MB", "GB"):
        if n < 1000 or unit == "GB":
            return f"{n:,} bytes" if unit == "bytes" else f"{n:.1f} {unit}"
        n /= 1000
    return ""  # pragma: no cover


def _digest_text(entry):
    parts = [f"{algo} {hexd}" for algo, hexd in (("md5", entry.md5), ("sha256", entry.sha256))
             if hexd]
    return ", ".join(parts) if parts else "no checksum recorded"


def not_found_message(entry, data_home=None, cause=None):
    """What is missing, where it should go, and where to get it."""
    home = get_data_home(data_home)
    files = "\n".join(f"  {p}" for p in dataset_files(entry, data_home))
    if entry.archive_root is None:
        how = f"save it as {home / entry.folder / entry.files[0]}"
    elif entry.archive_root:
        how = (f"unpack it into {home} (it unpacks into the folder '{entry.archive_root}'"
               + (f", which must be named '{entry.folder}')"
                  if entry.archive_root != entry.folder else ")"))
    else:
        how = f"unpack it into the folder {home / entry.folder}"
    msg = (f"Data set {entry.name!r} is not in the data home {home}: expected\n{files}\n"
           f"Download {source_url(entry)} ({_size_text(entry.size)}; {_digest_text(entry)}) "
           f"and {how}; or let fastmf.datasets.load({entry.name!r}, download=True) or "
           f"`python datasets/download.py {entry.name}` do it. The data home is the "
           f"data_home argument, else ${DATA_ENV}, else ~/.cache/fastmf.")
    if cause:
        msg += f"\nThe download failed: {cause}"
    return msg


class _CutShort(OSError):
    pass


class _Progress:
    """tqdm when installed, else one line on stderr at the start and at the end."""

    def __init__(self, enabled, total, desc, url):
        self._bar = None
        self._enabled = enabled
        self._desc = desc
        if not enabled:
            return
        try:
            from tqdm.auto import tqdm
        except ImportError:
            print(f"Downloading {desc} ({_size_text(total)}) from {url} ...", file=sys.stderr,
                  flush=True)
            return
        self._bar = tqdm(total=total, desc=desc, unit="B", unit_scale=True,
                         unit_divisor=1024, leave=False)

    def update(self, n):
        if self._bar is not None:
            self._bar.update(n)

    def close(self, done):
        if self._bar is not None:
            self._bar.close()
        elif self._enabled and done:
            print(f"Downloaded {self._desc}.", file=sys.stderr, flush=True)


def _fetch(url, part, progress, desc, size_hint):
    """Stream ``url`` into the open file ``part``; return (bytes, md5, sha256)."""
    md5, sha256 = hashlib.md5(), hashlib.sha256()
    request = urllib.request.Request(url, headers={"User-Agent": "fastmf-datasets"})
    received = 0
    with urllib.request.urlopen(request, timeout=_TIMEOUT) as response:
        length = response.headers.get("Content-Length")
        length = int(length) if length and length.isdigit() else None
        bar = _Progress(progress, length or size_hint, desc, url)
        try:
            while True:
                chunk = response.read(_CHUNK)
                if not chunk:
                    break
                part.write(chunk)
                md5.update(chunk)
                sha256.update(chunk)
                received += len(chunk)
                bar.update(len(chunk))
        finally:
            bar.close(done=length is None or received == length)
    # http.client does not raise when a connection closes before Content-Length bytes came
    # (it returns b'' to stay compatible), so a cut-short body is caught here.
    if length is not None and received != length:
        raise _CutShort(f"the download was cut short: {received:,} of the {length:,} bytes "
                        f"announced came")
    return received, md5.hexdigest(), sha256.hexdigest()


def _check_digests(entry, url, received, md5, sha256, verify):
    wrong = [(algo, want, got) for algo, want, got in
             (("md5", entry.md5, md5), ("sha256", entry.sha256, sha256))
             if want is not None and want.lower() != got]
    if not wrong:
        return
    detail = "; ".join(f"{algo}: expected {want}, got {got}" for algo, want, got in wrong)
    msg = (f"The download of {entry.name!r} from {url} ({received:,} bytes) does not match "
           f"the recorded checksum ({detail}).")
    if verify:
        raise ChecksumMismatchError(
            msg + " It was deleted and nothing was unpacked. The file was corrupted on the "
            "way, or the publisher changed it (then the catalogue entry needs updating; "
            "verify=False accepts it unchecked).")
    warnings.warn(msg + " Used anyway because verify=False.", RuntimeWarning, stacklevel=3)


def _inside(root, member):
    target = os.path.realpath(os.path.join(root, member))
    return target == root or target.startswith(root + os.sep)


def _unpack(archive, filename, dest):
    """Unpack ``archive`` (named ``filename``) into the folder ``dest``; members that would
    land outside it, links and device files are refused."""
    root = os.path.realpath(dest)
    lower = filename.lower()
    if lower.endswith(".zip"):
        with zipfile.ZipFile(archive) as z:
            for name in z.namelist():
                if not _inside(root, name):
                    raise ValueError(f"{filename} holds a member outside its folder: {name!r}")
            z.extractall(dest)
    elif lower.endswith((".tar.gz", ".tgz", ".tar.bz2", ".tar.xz", ".tar")):
        with tarfile.open(archive) as t:
            members = []
            for m in t.getmembers():
                if not _inside(root, m.name) or not (m.isfile() or m.isdir()):
                    raise ValueError(f"{filename} holds an unsafe member: {m.name!r}")
                members.append(m)
            if hasattr(tarfile, "data_filter"):
                t.extractall(dest, members=members, filter="data")
            else:  # Python < 3.10.12 / 3.11.4: members were checked above
                t.extractall(dest, members=members)
    else:
        raise ValueError(f"Do not know how to unpack {filename!r}.")


def _move_into_place(source, target):
    """Rename the unpacked folder ``source`` to ``target``. Files already in an incomplete
    ``target`` are kept; the missing ones are moved in, each with one rename."""
    try:
        os.replace(source, target)
        return
    except OSError:
        if not target.is_dir():
            raise
    for child in sorted(Path(source).iterdir()):
        dest = target / child.name
        if not dest.exists():
            os.replace(child, dest)
        elif child.is_dir() and dest.is_dir():
            _move_into_place(child, dest)


def download(name, data_home=None, *, verify=True, show_progress=True):
    """Download, verify and unpack a data set into the data home (no-op when present).

    Parameters
    ----------
    name : str
        A name from :func:`list_datasets`.
    data_home : str or path-like, optional
        See :func:`get_data_home`.
    verify : bool, default True
        Refuse a download whose digest differs from the recorded one, or for which no
        digest is recorded. False accepts it with a warning.
    show_progress : bool, default True
        A tqdm progress bar when tqdm is installed, else one line on stderr.

    Returns
    -------
    pathlib.Path
        The data set's folder, ``<data_home>/<folder>``.

    Raises
    ------
    DatasetNotFoundError
        Offline, HTTP error, or a download cut short.
    ChecksumMismatchError
        The download does not match the recorded digest (nothing is kept).
    """
    entry = get_entry(name)
    home = get_data_home(data_home)
    target = home / entry.folder
    if is_present(entry, home):
        return target
    url = source_url(entry)
    if verify and not entry.verifiable:
        raise DatasetNotFoundError(not_found_message(
            entry, home, f"no checksum is recorded for {entry.name!r}, so a download cannot "
            f"be verified; pass verify=False to accept it unchecked."))
    home.mkdir(parents=True, exist_ok=True)
    fd, part_name = tempfile.mkstemp(prefix=f".{entry.filename}.", suffix=".part", dir=home)
    part = Path(part_name)
    tmp = None
    try:
        try:
            with os.fdopen(fd, "wb") as f:
                received, md5, sha256 = _fetch(url, f, show_progress, entry.name, entry.size)
        except (urllib.error.URLError, http.client.HTTPException, OSError) as e:
            if isinstance(e, _CutShort):
                cause = f"{e} from {url}"
            elif isinstance(e, urllib.error.HTTPError):
                cause = f"HTTP {e.code} {e.reason} for {url}"
            elif isinstance(e, urllib.error.URLError):
                cause = f"{e.reason} (offline?) for {url}"
            else:
                cause = f"{type(e).__name__}: {e} for {url}"
            raise DatasetNotFoundError(not_found_message(entry, home, cause)) from e
        _check_digests(entry, url, received, md5, sha256, verify)
        tmp = Path(tempfile.mkdtemp(prefix=f".{entry.folder}.", suffix=".tmp", dir=home))
        if entry.archive_root is None:
            os.replace(part, tmp / entry.files[0])
            source = tmp
        else:
            try:
                _unpack(part, entry.filename, tmp)
            except (zipfile.BadZipFile, tarfile.TarError, EOFError, ValueError) as e:
                raise DatasetNotFoundError(not_found_message(
                    entry, home, f"{entry.filename} could not be unpacked: {e}")) from e
            source = tmp / entry.archive_root if entry.archive_root else tmp
        missing = [f for f in entry.files if not (source / f).is_file()]
        if missing:
            raise DatasetNotFoundError(not_found_message(
                entry, home, f"{entry.filename} does not hold {missing} under "
                f"'{entry.archive_root or '.'}'; the archive's layout changed."))
        _move_into_place(source, target)
    finally:
        part.unlink(missing_ok=True)
        if tmp is not None:
            shutil.rmtree(tmp, ignore_errors=True)
    if not is_present(entry, home):  # pragma: no cover - a concurrent writer removed it
        raise DatasetNotFoundError(not_found_message(entry, home, "files vanished after "
                                                                  "unpacking"))
    return target


def ensure(name, data_home=None, download_if_missing=True, *, verify=True, show_progress=True):
    """Paths of a data set's files, downloading it first when missing and allowed."""
    entry = get_entry(name)
    if not is_present(entry, data_home):
        if not download_if_missing:
            raise DatasetNotFoundError(not_found_message(entry, data_home))
        download(name, data_home, verify=verify, show_progress=show_progress)
    return dataset_files(entry, data_home)
