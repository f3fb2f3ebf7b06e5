"""Data home, verified downloads and atomic unpacking.

The transfer itself is pooch's (``pooch.HTTPDownloader`` through ``Pooch.fetch``): HTTP(S)
with ``requests``, retries of a failed transfer, a progress bar, and a temporary file renamed
only when the body arrived complete. What fastmf adds around it: the data home and its
official folder layout, every recorded digest checked (md5 and sha256 together, where pooch
checks one hash) and both reported on a mismatch, archives unpacked only after that check
and without trusting them (members outside the folder, links and device files are refused,
on every Python version), and an atomic move of the complete folder into place.

A download never poisons the cache: it lands in a hidden temporary folder in the data home,
its digests are checked before anything is unpacked, it is unpacked into another hidden
temporary folder there, and only a complete, verified folder is renamed into place (one
rename on the same file system). Whatever fails on the way, the temporary folders are
deleted.
"""

import contextlib
import hashlib
import logging
import os
import shutil
import sys
import tarfile
import tempfile
import warnings
import zipfile
from pathlib import Path

from .._install import install_hint
from ._catalogue import get_entry, source_url

DATA_ENV = "FASTMF_DATA"
_CHUNK = 1 << 20
_TIMEOUT = 60  # seconds without a byte before giving up
# Further tries of a transfer that failed (pooch waits 1 s, then 2 s, ... between tries).
_RETRIES = 2
_INSTALL = install_hint("datasets")


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


def _pooch():
    try:
        import pooch
    except ImportError:
        raise ImportError(f"Downloading a data set needs pooch: {_INSTALL}") from None
    return pooch


class _Progress:
    """The progress bar pooch drives (it sets ``total`` and calls ``update``, ``reset`` and,
    once the body is complete, ``close``): tqdm when installed, else one line on stderr at
    the start and at the end."""

    def __init__(self, enabled, total, desc, url):
        self._bar = None
        self._enabled = enabled
        self._desc = desc
        self._closed = False
        self.total = total
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

    def __setattr__(self, name, value):
        object.__setattr__(self, name, value)
        if name == "total" and getattr(self, "_bar", None) is not None and value:
            self._bar.total = value

    def __bool__(self):  # pooch tests the progress bar for truth
        return True

    def update(self, n):
        if self._bar is not None:
            self._bar.update(n)

    def reset(self):
        if self._bar is not None:
            self._bar.reset(total=self.total or None)

    def close(self, done=True):
        if self._closed:
            return
        self._closed = True
        if self._bar is not None:
            self._bar.close()
        elif self._enabled and done:
            print(f"Downloaded {self._desc}.", file=sys.stderr, flush=True)


@contextlib.contextmanager
def _pooch_quiet(pooch):
    """pooch logs every download at INFO on stderr; fastmf reports through its own progress
    bar (or not at all with show_progress=False)."""
    logger = pooch.get_logger()
    level = logger.level
    logger.setLevel(logging.WARNING)
    try:
        yield
    finally:
        logger.setLevel(level)


def _fetch(url, folder, name, progress, desc, size_hint):
    """Download ``url`` into ``folder / name`` with pooch; return (path, bytes, md5,
    sha256)."""
    pooch = _pooch()
    bar = _Progress(progress, size_hint, desc, url)
    fetcher = pooch.create(path=folder, base_url="", registry={name: None},
                           urls={name: url}, retry_if_failed=_RETRIES)
    downloader = pooch.HTTPDownloader(progressbar=bar, chunk_size=_CHUNK, timeout=_TIMEOUT,
                                      headers={"User-Agent": "fastmf-datasets"})
    try:
        with _pooch_quiet(pooch):
            path = Path(fetcher.fetch(name, downloader=downloader))
    finally:
        bar.close(done=False)
    md5, sha256 = hashlib.md5(), hashlib.sha256()
    received = 0
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(_CHUNK), b""):
            md5.update(chunk)
            sha256.update(chunk)
            received += len(chunk)
    return path, received, md5.hexdigest(), sha256.hexdigest()


def _incomplete_read(exc):
    """(bytes received, bytes announced) when ``exc`` is a body cut short, else None."""
    seen = set()
    stack = [exc]
    while stack:
        e = stack.pop()
        if e is None or id(e) in seen:
            continue
        seen.add(id(e))
        partial, expected = getattr(e, "partial", None), getattr(e, "expected", None)
        if isinstance(expected, int) and partial is not None:
            got = partial if isinstance(partial, int) else len(partial)
            return got, got + expected
        stack.extend(a for a in getattr(e, "args", ()) if isinstance(a, BaseException))
        stack.extend([e.__cause__, e.__context__])
    return None


def _failure(exc, url):
    """One line saying why the transfer of ``url`` failed."""
    import requests
    cut = _incomplete_read(exc)
    if cut is not None:
        return (f"the download was cut short: {cut[0]:,} of the {cut[1]:,} bytes announced "
                f"came from {url}")
    if isinstance(exc, requests.exceptions.HTTPError) and exc.response is not None:
        return f"HTTP {exc.response.status_code} {exc.response.reason} for {url}"
    if isinstance(exc, (requests.exceptions.ConnectionError, requests.exceptions.Timeout)):
        return f"{exc} (offline?) for {url}"
    return f"{type(exc).__name__}: {exc} for {url}"


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
    _pooch()  # a clear ImportError before anything is created
    import requests
    home.mkdir(parents=True, exist_ok=True)
    # pooch's own temporary file, and the download once complete, live in this hidden folder.
    part_dir = Path(tempfile.mkdtemp(prefix=f".{entry.filename}.", suffix=".part", dir=home))
    tmp = None
    try:
        try:
            part, received, md5, sha256 = _fetch(url, part_dir, entry.filename,
                                                 show_progress, entry.name, entry.size)
        except (requests.exceptions.RequestException, OSError, ValueError) as e:
            raise DatasetNotFoundError(not_found_message(entry, home, _failure(e, url))) from e
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
        shutil.rmtree(part_dir, ignore_errors=True)
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
