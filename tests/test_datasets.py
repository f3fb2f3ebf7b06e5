"""Data-set loaders: every official format (fixtures written here, never copied data), the
data home, and verified downloads against a local HTTP server."""

import dataclasses
import hashlib
import http.server
import importlib.util
import io
import socket
import sys
import tarfile
import threading
import urllib.request
import zipfile
from pathlib import Path

import numpy as np
import pytest

import fastmf.datasets as fd
from fastmf.datasets import _catalogue, _download, _loaders

ROOT = Path(__file__).resolve().parent.parent


# ---------------------------------------------------------------------- helpers
@pytest.fixture
def clean_env(monkeypatch, tmp_path):
    for var in ("FASTMF_DATA", "FASTMF_DATASETS_URL", "XDG_CACHE_HOME"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("HOME", str(tmp_path / "user"))


@pytest.fixture
def engine():
    """The files are read by pandas (the datasets extra)."""
    return pytest.importorskip("pandas")


@pytest.fixture(autouse=True)
def no_retry_waits(monkeypatch):
    """Failed transfers are not retried (pooch would wait 1 s, then 2 s) unless a test
    asks for it."""
    monkeypatch.setattr(_download, "_RETRIES", 0)


def write(path, text, mode="w"):
    path.parent.mkdir(parents=True, exist_ok=True)
    if mode == "w":
        path.write_text(text, encoding="utf-8", newline="")
    else:
        path.write_bytes(text)
    return path


def entries(data):
    """{(raw user, raw item): value} of an Interactions."""
    return {(data.user_ids[u].item(), data.item_ids[i].item()): v
            for u, i, v in zip(data.users, data.items, data.values)}


def stamps(data):
    return {(data.user_ids[u].item(), data.item_ids[i].item()): int(t)
            for u, i, t in zip(data.users, data.items, data.timestamps)}


def digests(blob):
    return hashlib.md5(blob).hexdigest(), hashlib.sha256(blob).hexdigest()


def zip_bytes(members):
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        for name, text in members.items():
            z.writestr(name, text)
    return buf.getvalue()


def tar_gz_bytes(members):
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as t:
        for name, text in members.items():
            data = text.encode()
            info = tarfile.TarInfo(name)
            info.size = len(data)
            t.addfile(info, io.BytesIO(data))
    return buf.getvalue()


def leftovers(home):
    """Everything in the data home (hidden temporaries included)."""
    return sorted(p.name for p in home.iterdir()) if home.exists() else []


U_DATA = "196\t242\t3\t881250949\n186\t302\t3\t891717742\n22\t377\t1\t878887116\n"
U_DATA_ENTRIES = {(196, 242): 3.0, (186, 302): 3.0, (22, 377): 1.0}


# ---------------------------------------------------------------------- formats
def test_movielens_100k_format(tmp_path, engine):
    write(tmp_path / "ml-100k" / "u.data", U_DATA)
    data = fd.load("movielens-100k", tmp_path, download=False)
    assert entries(data) == U_DATA_ENTRIES
    assert stamps(data)[(22, 377)] == 878887116
    assert data.user_ids.dtype.kind == "i" and data.timestamps.dtype == np.int64


@pytest.mark.parametrize("name, folder", [("movielens-1m", "ml-1m"),
                                          ("movielens-10m", "ml-10M100K")])
def test_movielens_dat_format(tmp_path, engine, name, folder):
    write(tmp_path / folder / "ratings.dat",
          "1::1193::5::978300760\n1::661::3.5::978302109\n71567::65133::0.5::1230000000\n")
    data = fd.load(name, tmp_path, download=False)
    assert entries(data) == {(1, 1193): 5.0, (1, 661): 3.5, (71567, 65133): 0.5}
    assert stamps(data)[(71567, 65133)] == 1230000000


@pytest.mark.parametrize("name, folder", [("movielens-20m", "ml-20m"),
                                          ("movielens-25m", "ml-25m"),
                                          ("movielens-latest-small", "ml-latest-small")])
def test_movielens_csv_format(tmp_path, engine, name, folder):
    write(tmp_path / folder / "ratings.csv",
          "userId,movieId,rating,timestamp\r\n1,296,5.0,1147880044\r\n1,306,3.5,1147868817\r\n"
          "162541,209171,4.5,1574327512\r\n")
    data = fd.load(name, tmp_path, download=False)
    assert entries(data) == {(1, 296): 5.0, (1, 306): 3.5, (162541, 209171): 4.5}
    assert stamps(data)[(162541, 209171)] == 1574327512


def test_hetrec_lastfm_format(tmp_path, engine):
    write(tmp_path / "hetrec2011-lastfm-2k" / "user_artists.dat",
          "userID\tartistID\tweight\n2\t51\t13883\n2\t52\t11690\n2100\t18730\t108\n")
    data = fd.load("lastfm-2k", tmp_path, download=False)
    assert entries(data) == {(2, 51): 13883.0, (2, 52): 11690.0, (2100, 18730): 108.0}
    assert data.timestamps is None


SHA_A = "00000c289a1829a808ac09c00daf10bc3c4e223b"
SHA_B = "fffe8c7f952d9b960a56ed4dcb40a415d924b224"
MBID = "3bd73256-3905-4f3a-97e2-8b341527f805"


def test_lastfm_360k_format(tmp_path, engine):
    rows = [
        f"{SHA_A}\t{MBID}\tbetty blowtorch\t2137",
        f"{SHA_A}\t\tdie \"ärzte\t1099",       # no MBID: the name is the id; a stray quote
        f"{SHA_A}\t\tNaN\t5",                  # an artist called NaN stays a string
        f"{SHA_B}\t{MBID}\tBetty Blowtorch\t3",
        f"{SHA_B}\t{MBID}\tbetty blowtorch\t4",  # same artist again: play counts add up
        f"{SHA_B}\t\tcr\rlf\t7",               # a bare carriage return inside a name
        f"\t{MBID}\tbetty blowtorch\t9",       # no user: skipped
        f"{SHA_B}\t\t\t9",                     # no artist: skipped
        f"{SHA_B}\t\tx\tmany",                 # play count not a number: skipped
        f"{SHA_B}\t\ty\t1\textra",             # five fields: skipped
    ]
    write(tmp_path / "lastfm-dataset-360K" / "usersha1-artmbid-artname-plays.tsv",
          "\n".join(rows) + "\n")
    with pytest.warns(RuntimeWarning, match=r"skipped 4 malformed rows.*1 without a user"):
        data = fd.load("lastfm-360k", tmp_path, download=False)
    assert entries(data) == {(SHA_A, MBID): 2137.0, (SHA_A, 'die "ärzte'): 1099.0,
                             (SHA_A, "NaN"): 5.0, (SHA_B, MBID): 7.0, (SHA_B, "cr\rlf"): 7.0}


def test_citeulike_format(tmp_path, engine):
    write(tmp_path / "citeulike-a" / "users.dat", "3 0 5 9\n1 5\n2 1 2\n")
    data = fd.load("citeulike-a", tmp_path, download=False)
    assert entries(data) == {(0, 0): 1.0, (0, 5): 1.0, (0, 9): 1.0, (1, 5): 1.0,
                             (2, 1): 1.0, (2, 2): 1.0}


def test_citeulike_count_mismatch_raises(tmp_path):
    write(tmp_path / "citeulike-a" / "users.dat", "3 0 5 9\n3 5\n")
    with pytest.raises(ValueError, match="line 2 announces 3 items but lists 1"):
        fd.load("citeulike-a", tmp_path, download=False)


@pytest.mark.parametrize("bad", ["196\t242\t3\n", "196\t242\tx\t881250949\n",
                                 "196\t242\t3\t88125094\t7\n"])
def test_malformed_numeric_file_raises(tmp_path, engine, bad):
    write(tmp_path / "ml-100k" / "u.data", U_DATA + bad + U_DATA)
    with pytest.raises(ValueError, match="u.data"):
        fd.load("movielens-100k", tmp_path, download=False)


def test_missing_pandas_names_the_extra(tmp_path, monkeypatch):
    write(tmp_path / "ml-100k" / "u.data", U_DATA)
    monkeypatch.setitem(sys.modules, "pandas", None)  # import fails as if not installed
    with pytest.raises(ImportError, match=r"pip install pandas pooch .*fastmf-recsys"):
        fd.load("movielens-100k", tmp_path, download=False)


# ---------------------------------------------------------------------- real data
def test_real_movielens_100k(data_home):
    data = fd.load("movielens-100k", data_home, download=False)
    assert data.shape == (943, 1682) and data.nnz == 100_000
    assert set(np.unique(data.values)) == {1.0, 2.0, 3.0, 4.0, 5.0}
    assert data.timestamps is not None and data.timestamps.min() > 8e8
    assert data.user_ids[0] == 1 and data.item_ids[-1] == 1682


def test_real_citeulike_a(data_home):
    data = fd.load("citeulike-a", data_home, download=False)
    assert data.shape == (5551, 16980) and data.nnz == 204_986
    assert np.all(data.values == 1.0)


# ---------------------------------------------------------------------- catalogue, data home
def test_catalogue_is_complete():
    names = ["movielens-100k", "movielens-1m", "movielens-10m", "movielens-20m",
             "movielens-25m", "movielens-latest-small", "lastfm-2k", "lastfm-360k",
             "citeulike-a"]
    listed = fd.list_datasets()
    assert list(listed) == names and all(listed.values())
    assert fd.CATALOGUE["movielens-100k"].md5 == "0e33842e24a9c977be4e0107933c0723"
    for entry in fd.CATALOGUE.values():
        assert entry.url.startswith("https://")
        assert entry.verifiable, entry.name
        assert entry.md5 is None or len(entry.md5) == 32 and int(entry.md5, 16) >= 0
        assert entry.sha256 is None or len(entry.sha256) == 64 and int(entry.sha256, 16) >= 0
        assert entry.parser in _loaders.PARSERS and entry.files and entry.licence
    with pytest.raises(ValueError, match="Unknown data set 'movielens'.*movielens-100k"):
        fd.load("movielens")


def test_data_home_precedence(clean_env, monkeypatch, tmp_path):
    assert fd.get_data_home() == tmp_path / "user" / ".cache" / "fastmf"
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert fd.get_data_home() == tmp_path / "xdg" / "fastmf"
    monkeypatch.setenv("FASTMF_DATA", str(tmp_path / "env"))
    assert fd.get_data_home() == tmp_path / "env"
    assert fd.get_data_home(tmp_path / "arg") == tmp_path / "arg"
    assert fd.get_data_home("~/x") == tmp_path / "user" / "x"
    assert not (tmp_path / "env").exists()  # looking it up creates nothing


def test_load_uses_argument_over_environment(clean_env, monkeypatch, tmp_path):
    write(tmp_path / "env" / "ml-100k" / "u.data", U_DATA)
    write(tmp_path / "arg" / "ml-100k" / "u.data", "1\t2\t4\t881250949\n")
    monkeypatch.setenv("FASTMF_DATA", str(tmp_path / "env"))
    assert entries(fd.load("movielens-100k", download=False)) == U_DATA_ENTRIES
    assert entries(fd.load("movielens-100k", tmp_path / "arg", download=False)) == {
        (1, 2): 4.0}


def test_download_false_never_touches_the_network(clean_env, monkeypatch, tmp_path):
    def no_network(*args, **kwargs):
        raise AssertionError("download=False must not open a connection")
    monkeypatch.setattr(urllib.request, "urlopen", no_network)
    with pytest.raises(fd.DatasetNotFoundError) as err:
        fd.load("movielens-1m", tmp_path / "home", download=False)
    msg = str(err.value)
    assert isinstance(err.value, OSError)
    assert str(tmp_path / "home" / "ml-1m" / "ratings.dat") in msg
    assert "https://files.grouplens.org/datasets/movielens/ml-1m.zip" in msg
    assert "c4d9eecfca2ab87c1945afe126590906" in msg
    assert not (tmp_path / "home").exists()


# ---------------------------------------------------------------------- downloads
class _Handler(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        route = self.server.routes.get(self.path.split("?")[0])
        if route is None:
            self.send_error(404)
            return
        body, announced = route[:2]
        failures = route[2] if len(route) > 2 else []
        if failures:
            failures.pop()
            self.send_error(503)
            return
        self.send_response(200)
        self.send_header("Content-Length", str(announced or len(body)))
        self.end_headers()
        self.wfile.write(body)
        self.wfile.flush()
        self.close_connection = True  # a too-long Content-Length: close early

    def log_message(self, *args):
        pass


@pytest.fixture
def server():
    """A local HTTP server; ``server.serve(path, body, announced=None)`` adds a file."""
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    httpd.routes = {}
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.02},
                              daemon=True)
    thread.start()
    base = f"http://127.0.0.1:{httpd.server_address[1]}"

    class Server:
        url = base
        routes = httpd.routes

        @staticmethod
        def serve(path, body, announced=None, fail_first=0):
            httpd.routes[path] = (body, announced, [True] * fail_first)
            return base + path
    try:
        yield Server
    finally:
        httpd.shutdown()
        httpd.server_close()


def point(monkeypatch, name, url, blob, **changes):
    """Point a catalogue entry at ``url`` with the digests of ``blob``."""
    md5, sha256 = digests(blob)
    entry = dataclasses.replace(fd.CATALOGUE[name], url=url, md5=md5, sha256=sha256,
                                size=len(blob), **changes)
    monkeypatch.setitem(_catalogue.CATALOGUE, name, entry)
    return entry


ML100K_ZIP = zip_bytes({"ml-100k/": "", "ml-100k/u.data": U_DATA,
                        "ml-100k/README": "fixture\n"})


def test_download_verify_unpack_and_load(clean_env, monkeypatch, server, tmp_path):
    home = tmp_path / "home"
    point(monkeypatch, "movielens-100k", server.serve("/ml-100k.zip", ML100K_ZIP), ML100K_ZIP)
    data = fd.load("movielens-100k", home, show_progress=False)
    assert entries(data) == U_DATA_ENTRIES
    assert leftovers(home) == ["ml-100k"]  # no .part file, no temporary folder
    assert sorted(p.name for p in (home / "ml-100k").iterdir()) == ["README", "u.data"]
    server.routes.clear()  # cached now: loads without the server
    assert entries(fd.load("movielens-100k", home)) == U_DATA_ENTRIES


def test_download_through_mirror_variable_tar_gz(clean_env, monkeypatch, server, tmp_path):
    tsv = f"{SHA_A}\t{MBID}\tbetty blowtorch\t2137\n{SHA_B}\t\tu2\t31\n"
    blob = tar_gz_bytes({"lastfm-dataset-360K/usersha1-artmbid-artname-plays.tsv": tsv,
                         "lastfm-dataset-360K/README.txt": "fixture\n"})
    server.serve("/mirror/lastfm-dataset-360K.tar.gz", blob)
    point(monkeypatch, "lastfm-360k", "https://unreachable.invalid/x", blob)
    monkeypatch.setenv("FASTMF_DATASETS_URL", server.url + "/mirror/")
    data = fd.load("lastfm-360k", tmp_path, show_progress=False)
    assert entries(data) == {(SHA_A, MBID): 2137.0, (SHA_B, "u2"): 31.0}
    assert leftovers(tmp_path) == ["lastfm-dataset-360K"]


def test_download_flat_zip_and_single_file(clean_env, monkeypatch, server, tmp_path):
    flat = zip_bytes({"user_artists.dat": "userID\tartistID\tweight\n2\t51\t13883\n",
                      "readme.txt": "fixture\n"})
    point(monkeypatch, "lastfm-2k", server.serve("/hetrec2011-lastfm-2k.zip", flat), flat)
    assert entries(fd.load("lastfm-2k", tmp_path, show_progress=False)) == {(2, 51): 13883.0}
    users = b"2 0 3\n1 3\n"
    point(monkeypatch, "citeulike-a", server.serve("/users.dat", users), users)
    assert fd.load("citeulike-a", tmp_path, show_progress=False).nnz == 3
    assert leftovers(tmp_path) == ["citeulike-a", "hetrec2011-lastfm-2k"]


def test_checksum_mismatch_leaves_nothing(clean_env, monkeypatch, server, tmp_path):
    home = tmp_path / "home"
    recorded = fd.CATALOGUE["movielens-100k"]
    monkeypatch.setitem(_catalogue.CATALOGUE, "movielens-100k", dataclasses.replace(
        recorded, url=server.serve("/ml-100k.zip", ML100K_ZIP)))
    with pytest.raises(fd.ChecksumMismatchError) as err:
        fd.load("movielens-100k", home, show_progress=False)
    msg = str(err.value)
    md5, sha256 = digests(ML100K_ZIP)
    assert f"md5: expected {recorded.md5}, got {md5}" in msg
    assert f"sha256: expected {recorded.sha256}, got {sha256}" in msg
    assert isinstance(err.value, OSError)
    assert leftovers(home) == []
    # verify=False accepts it, with a warning naming both digests
    with pytest.warns(RuntimeWarning, match=f"expected {recorded.md5}, got {md5}"):
        data = fd.load("movielens-100k", home, verify=False, show_progress=False)
    assert entries(data) == U_DATA_ENTRIES


def test_truncated_download_leaves_nothing(clean_env, monkeypatch, server, tmp_path):
    home = tmp_path / "home"
    url = server.serve("/ml-100k.zip", ML100K_ZIP[:200], announced=len(ML100K_ZIP))
    point(monkeypatch, "movielens-100k", url, ML100K_ZIP)
    with pytest.raises(fd.DatasetNotFoundError, match=r"cut short: 200 of the"):
        fd.load("movielens-100k", home, show_progress=False)
    assert leftovers(home) == []


def test_offline_and_http_errors(clean_env, monkeypatch, server, tmp_path):
    home = tmp_path / "home"
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        closed = f"http://127.0.0.1:{s.getsockname()[1]}/ml-100k.zip"
    point(monkeypatch, "movielens-100k", closed, ML100K_ZIP)
    with pytest.raises(fd.DatasetNotFoundError) as err:
        fd.load("movielens-100k", home, show_progress=False)
    assert "The download failed" in str(err.value) and closed in str(err.value)
    assert str(home / "ml-100k" / "u.data") in str(err.value)
    assert leftovers(home) == []
    point(monkeypatch, "movielens-100k", server.url + "/missing.zip", ML100K_ZIP)
    with pytest.raises(fd.DatasetNotFoundError, match="HTTP 404"):
        fd.load("movielens-100k", home, show_progress=False)
    assert leftovers(home) == []


def test_unverifiable_download_needs_verify_false(clean_env, monkeypatch, server, tmp_path):
    entry = point(monkeypatch, "movielens-100k", server.serve("/ml-100k.zip", ML100K_ZIP),
                  ML100K_ZIP)
    monkeypatch.setitem(_catalogue.CATALOGUE, "movielens-100k",
                        dataclasses.replace(entry, md5=None, sha256=None))
    with pytest.raises(fd.DatasetNotFoundError, match="no checksum is recorded"):
        fd.load("movielens-100k", tmp_path, show_progress=False)
    assert leftovers(tmp_path) == []
    assert fd.load("movielens-100k", tmp_path, verify=False, show_progress=False).nnz == 3


@pytest.mark.parametrize("members, match", [
    ({"ml-100k/README": "no ratings file\n"}, "does not hold"),
    ({"ml-100k/u.data": U_DATA, "../evil": "x"}, "outside its folder"),
])
def test_bad_archive_leaves_nothing(clean_env, monkeypatch, server, tmp_path, members, match):
    blob = zip_bytes(members)
    point(monkeypatch, "movielens-100k", server.serve("/ml-100k.zip", blob), blob)
    with pytest.raises(fd.DatasetNotFoundError, match=match):
        fd.load("movielens-100k", tmp_path, show_progress=False)
    assert leftovers(tmp_path) == []


def test_download_completes_an_incomplete_folder(clean_env, monkeypatch, server, tmp_path):
    write(tmp_path / "ml-100k" / "README", "the user's own copy\n")
    point(monkeypatch, "movielens-100k", server.serve("/ml-100k.zip", ML100K_ZIP), ML100K_ZIP)
    assert entries(fd.load("movielens-100k", tmp_path, show_progress=False)) == U_DATA_ENTRIES
    assert (tmp_path / "ml-100k" / "README").read_text() == "the user's own copy\n"
    assert leftovers(tmp_path) == ["ml-100k"]


def test_progress_line_without_tqdm(clean_env, monkeypatch, server, tmp_path, capsys):
    monkeypatch.setitem(sys.modules, "tqdm.auto", None)  # import fails as if not installed
    url = server.serve("/ml-100k.zip", ML100K_ZIP)
    point(monkeypatch, "movielens-100k", url, ML100K_ZIP)
    fd.download("movielens-100k", tmp_path)
    err = capsys.readouterr().err
    assert "Downloading movielens-100k" in err and url in err and "Downloaded" in err


def test_download_script(clean_env, monkeypatch, server, tmp_path, capsys):
    spec = importlib.util.spec_from_file_location("download_script",
                                                  ROOT / "datasets" / "download.py")
    script = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(script)
    assert script.main(["--list"]) == 0
    assert "citeulike-a" in capsys.readouterr().out
    point(monkeypatch, "movielens-100k", server.serve("/ml-100k.zip", ML100K_ZIP), ML100K_ZIP)
    monkeypatch.setenv("FASTMF_DATA", str(tmp_path / "env"))
    assert script.main(["movielens-100k", "--quiet"]) == 0
    assert (tmp_path / "env" / "ml-100k" / "u.data").is_file()
    assert script.main(["movielens-100k"]) == 0
    assert "already in" in capsys.readouterr().out
    bad = dataclasses.replace(fd.CATALOGUE["movielens-100k"], md5="0" * 32, sha256=None)
    monkeypatch.setitem(_catalogue.CATALOGUE, "movielens-100k", bad)
    assert script.main(["movielens-100k", "--data-home", str(tmp_path / "arg")]) == 1
    assert "expected 00000000" in capsys.readouterr().err
    assert leftovers(tmp_path / "arg") == []


def test_failed_transfer_is_retried(clean_env, monkeypatch, server, tmp_path):
    monkeypatch.setattr(_download, "_RETRIES", 1)
    url = server.serve("/ml-100k.zip", ML100K_ZIP, fail_first=1)
    point(monkeypatch, "movielens-100k", url, ML100K_ZIP)
    assert entries(fd.load("movielens-100k", tmp_path, show_progress=False)) == U_DATA_ENTRIES
    assert leftovers(tmp_path) == ["ml-100k"]


def test_download_without_pooch_names_the_extra(clean_env, monkeypatch, tmp_path):
    monkeypatch.setitem(sys.modules, "pooch", None)
    with pytest.raises(ImportError, match=r"pip install pandas pooch .*fastmf-recsys"):
        fd.load("movielens-100k", tmp_path / "home")
    assert not (tmp_path / "home").exists()
