"""Saving cannot lose a model; loading refuses tampered files, naming the field."""

import json
import subprocess
import sys
import textwrap

import numpy as np
import pytest
from conftest import random_csr

import fastmf


@pytest.fixture
def saved(tmp_path):
    A = random_csr(30, 20, 0.2, 0)
    data = fastmf.Interactions.from_matrix(A, user_ids=np.arange(100, 130),
                                           item_ids=np.arange(20))
    model = fastmf.WALS(4, iterations=2, random_state=0).fit(data)
    path = tmp_path / "m.npz"
    model.save(path)
    with np.load(path) as z:
        arrays = {k: z[k] for k in z.files}
    return model, path, arrays


def _tamper(tmp_path, arrays, **changes):
    arrays = dict(arrays, **changes)
    path = tmp_path / "t.npz"
    np.savez(path, **arrays)
    return path


def _meta(arrays, **changes):
    meta = json.loads(str(arrays["meta"]))
    meta.update(changes)
    return np.array(json.dumps(meta))


@pytest.mark.parametrize("field, change, match", [
    ("user_factors", lambda a: a["user_factors"][:-1], "'user_ids' must be a 1-d array of length 29"),
    ("item_factors", lambda a: a["item_factors"][:, :2], "'item_factors' has 2 columns"),
    ("user_factors", lambda a: np.where(a["user_factors"] > 0, np.nan, a["user_factors"]),
     "'user_factors' holds NaN"),
    ("item_factors", lambda a: a["item_factors"] * np.inf, "'item_factors' holds NaN or inf"),
    ("user_ids", lambda a: a["user_ids"][:-3], "'user_ids' must be a 1-d array of length 30"),
    ("item_ids", lambda a: a["item_ids"][::-1], "'item_ids' must be sorted"),
    ("seen_indices", lambda a: a["seen_indices"] + 1000, "seen_indptr/seen_indices"),
    ("seen_indptr", lambda a: a["seen_indptr"][::-1], "seen_indptr/seen_indices"),
    ("meta", lambda a: _meta(a, global_mean="x"), "'global_mean' must be a finite number"),
    ("meta", lambda a: _meta(a, format=99), "'format' is 99"),
    ("meta", lambda a: _meta(a, params={"factors": -1}), "invalid parameters"),
])
def test_tampered_files_are_refused(tmp_path, saved, field, change, match):
    _, _, arrays = saved
    path = _tamper(tmp_path, arrays, **{field: change(arrays)})
    with pytest.raises(fastmf.ModelFileError, match=match):
        fastmf.load(path)


def test_biases_of_the_wrong_length_are_refused(tmp_path):
    A = random_csr(30, 20, 0.2, 0)
    model = fastmf.WALS(4, iterations=1, w0=0.0, target="value", confidence="none",
                        biases=True, random_state=0).fit(A)
    model.save(tmp_path / "b.npz")
    with np.load(tmp_path / "b.npz") as z:
        arrays = {k: z[k] for k in z.files}
    path = _tamper(tmp_path, arrays, item_biases=arrays["item_biases"][:5])
    with pytest.raises(fastmf.ModelFileError, match="'item_biases' must be a 1-d array"):
        fastmf.load(path)


def test_not_a_model_file(tmp_path):
    path = tmp_path / "x.npz"
    path.write_bytes(b"not a zip file")
    with pytest.raises(fastmf.ModelFileError, match="not a fastmf model file"):
        fastmf.load(path)


def test_a_save_that_fails_midway_keeps_the_previous_file(tmp_path, saved):
    """A save killed by a file-size limit (SIGXFSZ ignored, so the write raises) leaves
    the model already at the path intact, and no temporary file behind."""
    model, path, _ = saved
    before = path.read_bytes()
    script = textwrap.dedent(f"""
        import resource, signal, sys
        import numpy as np
        import fastmf
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        model = fastmf.load({str(path)!r})
        model.user_factors = np.ones((200000, 4), np.float32)  # a save of about 3 MB
        resource.setrlimit(resource.RLIMIT_FSIZE, (200000, 200000))
        try:
            model.save({str(path)!r})
        except OSError as exc:
            print("failed:", exc.errno)
            sys.exit(0)
        sys.exit(3)
    """)
    run = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                         timeout=120)
    assert run.returncode == 0, run.stderr[-2000:]
    assert "failed:" in run.stdout
    assert path.read_bytes() == before
    assert sorted(p.name for p in path.parent.iterdir()) == ["m.npz"]
    again = fastmf.load(path)
    np.testing.assert_array_equal(again.user_factors, model.user_factors)


def _damaged(path, tmp_path, how):
    """A copy of the model file at ``path``, damaged in one way."""
    import zipfile
    raw = bytearray(path.read_bytes())
    out = tmp_path / f"damaged-{how}.npz"
    if how == "truncated":
        raw = raw[:len(raw) // 2]
    elif how == "crc":
        # flip bytes inside the first member's data (its stored CRC no longer matches)
        with zipfile.ZipFile(path) as z:
            info = z.infolist()[0]
        at = info.header_offset + 30 + len(info.filename.encode()) + len(info.extra) + 20
        raw[at:at + 8] = bytes(b ^ 0xFF for b in raw[at:at + 8])
    elif how == "not-zip":
        raw = b"this is no zip archive" + bytes(200)
    elif how == "empty":
        raw = b""
    elif how in ("missing-member", "wrong-dtype", "bad-member"):
        with np.load(path) as z:
            arrays = {k: z[k] for k in z.files}
        if how == "missing-member":
            del arrays["item_factors"]
        elif how == "wrong-dtype":
            arrays["user_factors"] = arrays["user_factors"].astype(np.int32)
        np.savez(out, **arrays)
        if how == "bad-member":  # a member that is not an .npy array at all
            with zipfile.ZipFile(out, "a") as zf:
                zf.writestr("user_biases.npy", b"not an array")
        return out
    out.write_bytes(bytes(raw))
    return out


DAMAGE = ["truncated", "crc", "not-zip", "empty", "missing-member", "wrong-dtype",
          "bad-member"]


@pytest.mark.parametrize("how", DAMAGE)
def test_every_damaged_file_is_a_model_file_error(tmp_path, saved, how):
    _, path, _ = saved
    bad = _damaged(path, tmp_path, how)
    with pytest.raises(fastmf.ModelFileError) as info:
        fastmf.load(bad)
    assert str(bad) in str(info.value)


@pytest.mark.parametrize("how", ["truncated", "crc", "not-zip"])
@pytest.mark.parametrize("command", ["recommend", "evaluate"])
def test_the_command_line_reports_a_damaged_file_in_one_line(tmp_path, saved, how,
                                                             command):
    _, path, _ = saved
    bad = _damaged(path, tmp_path, how)
    data = tmp_path / "test.csv"
    data.write_text("user,item\n100,1\n101,2\n")
    args = [str(bad), "100"] if command == "recommend" else ["--model", str(bad), str(data)]
    run = subprocess.run([sys.executable, "-m", "fastmf", command, *args],
                         capture_output=True, text=True, timeout=120)
    assert run.returncode == 1
    lines = run.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("fastmf: error:"), run.stderr
    assert "Traceback" not in run.stderr
