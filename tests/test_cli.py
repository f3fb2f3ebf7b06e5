"""The command line: compare, fit, recommend, evaluate; errors as one line."""

import csv

import numpy as np
import pytest

import fastmf
from fastmf.__main__ import main


@pytest.fixture
def log_csv(tmp_path):
    rng = np.random.default_rng(0)
    path = tmp_path / "log.csv"
    with open(path, "w") as f:
        f.write("who,what,stars,when\n")
        f.writelines(f"u{rng.integers(0, 200)},item-{rng.integers(0, 120)},"
                    f"{rng.integers(1, 6)},{rng.integers(0, 10**6)}\n" for _ in range(3000))
    return path


COLUMNS = ["--user", "who", "--item", "what"]


def test_fit_then_recommend_prints_raw_ids(log_csv, tmp_path, capsys):
    model_path = tmp_path / "m.npz"
    assert main(["fit", str(log_csv), *COLUMNS, "--factors", "4", "--iterations", "2",
                 "-o", str(model_path), "--quiet"]) == 0
    model = fastmf.load(model_path)
    assert model.user_ids_[0] == "u0" and model.item_ids_.dtype.kind == "U"
    capsys.readouterr()
    assert main(["recommend", str(model_path), "u3", "u5", "-k", "4"]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert lines[0] == "user\trank\titem\tscore" and len(lines) == 9
    user, rank, item, _ = lines[1].split("\t")
    assert (user, rank) == ("u3", "1") and item.startswith("item-")
    # the printed item is the model's best unseen item for that user
    u = int(np.flatnonzero(model.user_ids_ == "u3")[0])
    ids, _ = model.recommend([u], k=1, ids="index")
    assert model.item_ids_[ids[0, 0]] == item
    raw, _ = model.recommend(["u3"], k=1)
    assert raw[0, 0] == item


@pytest.mark.parametrize("name, cls", [("bpr", "BPR"), ("logistic", "LogisticMF"),
                                       ("warp", "WARP")])
def test_fit_a_ranking_model(log_csv, tmp_path, capsys, name, cls):
    model_path = tmp_path / "m.npz"
    assert main(["fit", str(log_csv), *COLUMNS, "--model", name, "--factors", "4",
                 "--epochs", "2", "--iterations", "7", "-o", str(model_path),
                 "--quiet"]) == 0
    model = fastmf.load(model_path)
    assert type(model).__name__ == cls and len(model.history_) == 2
    capsys.readouterr()
    assert main(["fit", str(log_csv), *COLUMNS, "--model", name, "--kind", "ratings",
                 "--quiet"]) == 1
    assert "implicit feedback only" in capsys.readouterr().err


def test_evaluate_fits_on_a_split_and_prints_metrics(log_csv, capsys):
    assert main(["evaluate", str(log_csv), *COLUMNS, "--value", "stars", "--timestamp",
                 "when", "--split", "time", "--kind", "ratings", "--factors", "4",
                 "--metrics", "rmse,ndcg@5", "--quiet"]) == 0
    out = capsys.readouterr().out.split()
    assert out[0] == "rmse" and out[2] == "ndcg@5"
    assert 0 < float(out[1]) < 5 and 0 <= float(out[3]) <= 1


def test_evaluate_a_saved_model(log_csv, tmp_path, capsys):
    model_path = tmp_path / "m.npz"
    main(["fit", str(log_csv), *COLUMNS, "--factors", "4", "--iterations", "2", "-o",
          str(model_path), "--quiet"])
    capsys.readouterr()
    assert main(["evaluate", str(log_csv), *COLUMNS, "--model", str(model_path),
                 "--metrics", "auc"]) == 0
    assert capsys.readouterr().out.startswith("auc")


@pytest.mark.parametrize("argv, message", [
    (["fit", "no-such-file.csv"], "neither a data-set name"),
    (["fit", "LOG", "--user", "nope"], "not in"),
    (["fit", "LOG", *COLUMNS, "--param", "bogus=1"], "bogus"),
    (["fit", "LOG", *COLUMNS, "--param", "reg"], "NAME=VALUE"),
    (["fit", "LOG", *COLUMNS, "--factors", "0"], "'factors'"),
    (["fit", "LOG", *COLUMNS, "--model", "als"], "--model"),
    (["recommend", "missing.npz", "u1"], "no model file"),
    (["evaluate", "LOG", *COLUMNS, "--split", "time"], "timestamps"),
])
def test_errors_are_one_line_and_nonzero(argv, message, log_csv, capsys):
    argv = [str(log_csv) if a == "LOG" else a for a in argv]
    assert main(argv) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("fastmf: error:") and message in err[0]


def test_help_of_every_command(capsys):
    for command in ("compare", "fit", "recommend", "evaluate"):
        with pytest.raises(SystemExit) as exc:
            main([command, "--help"])
        assert exc.value.code == 0
        assert "usage: fastmf " + command in capsys.readouterr().out


def test_compare_help_names_every_method(capsys):
    from fastmf.evaluation._methods import METHODS
    with pytest.raises(SystemExit):
        main(["compare", "--help"])
    text = " ".join(capsys.readouterr().out.split())
    for method in ("wals-cg", "wals-cholesky", "sgd", "sgd-logistic", "sgd-bpr", "sgd-warp",
                   "observed-only", "svd", *METHODS):
        assert method in text


def test_compare_default_runs_offline_and_writes_outputs(tmp_path, capsys):
    """The README's main job: the embedded data set, every method, table + CSV + JSON + PNG."""
    out = tmp_path / "out"
    assert main(["compare", "--out", str(out), "--quiet"]) == 0
    printed = capsys.readouterr().out
    methods = {"wals-cg", "wals-cholesky", "sgd", "sgd-logistic", "sgd-bpr", "observed-only",
               "svd"}
    for method in methods:
        assert method in printed
    with open(out / "curves.csv") as f:
        rows = list(csv.DictReader(f))
    assert {r["method"] for r in rows} == methods
    # the ranking losses have no value of the shared objective
    assert all(r["objective"] == "" for r in rows if r["method"] in ("sgd-logistic", "sgd-bpr"))
    assert {"objective", "time", "recall@10", "ndcg@10"} <= set(rows[0])
    assert (out / "curves.json").stat().st_size > 0
    pytest.importorskip("matplotlib")
    assert (out / "compare.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_unusable_inputs_exit_non_zero_with_one_line(tmp_path, capsys):
    empty = tmp_path / "empty.csv"
    empty.write_text("user,item,value\n")
    assert main(["fit", str(empty), "-o", str(tmp_path / "m.npz"), "--quiet"]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "holds no interactions" in err[0]
    # a tampered model file: NaN factors
    good = tmp_path / "good.csv"
    good.write_text("user,item\na,x\nb,y\na,y\nc,x\n")
    assert main(["fit", str(good), "-o", str(tmp_path / "g.npz"), "--factors", "2",
                 "--quiet"]) == 0
    with np.load(tmp_path / "g.npz") as z:
        arrays = {k: z[k] for k in z.files}
    arrays["user_factors"] = arrays["user_factors"].copy()
    arrays["user_factors"][0, 0] = np.nan
    np.savez(tmp_path / "bad.npz", **arrays)
    capsys.readouterr()
    assert main(["recommend", str(tmp_path / "bad.npz"), "a"]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "user_factors" in err[0] and "NaN" in err[0]


def test_a_value_column_is_used_or_its_ambiguity_is_an_error(tmp_path, capsys):
    path = tmp_path / "r.csv"
    path.write_text("user,item,rating\na,x,5\nb,y,1\na,y,2\nc,x,4\n")
    assert main(["fit", str(path), "-o", str(tmp_path / "m.npz"), "--factors", "2"]) == 0
    assert "using column 'rating'" in capsys.readouterr().out
    both = tmp_path / "b.csv"
    both.write_text("user,item,rating,count\na,x,5,1\n")
    assert main(["fit", str(both), "-o", str(tmp_path / "m.npz"), "--quiet"]) == 1
    assert "several value columns (rating, count)" in capsys.readouterr().err


def test_metrics_of_disjoint_splits_warn():
    import scipy.sparse as sp
    train = sp.csr_array(np.array([[1.0, 1, 0, 0], [1, 0, 1, 0], [0, 0, 0, 0]]))
    test = sp.csr_array(np.array([[0.0, 0, 0, 0], [0, 0, 0, 0], [0, 1, 0, 1]]))
    model = fastmf.WALS(2, iterations=2, random_state=0).fit(train)
    with pytest.warns(RuntimeWarning, match="share no users"):
        fastmf.evaluate(model, train, test, k=2, metrics=["ndcg", "recall"])


COMMANDS = ("compare", "fit", "tune", "recommend", "evaluate")


def test_help_lists_each_command_with_one_line(capsys):
    with pytest.raises(SystemExit) as stop:
        main(["--help"])
    assert stop.value.code == 0
    out = capsys.readouterr().out
    for name in COMMANDS:
        lines = [ln for ln in out.splitlines() if ln.strip().startswith(name)]
        assert lines, f"{name} is not listed in fastmf --help"
    assert "--version" in out


@pytest.mark.parametrize("name", COMMANDS)
def test_every_option_has_help_and_shows_its_default(name, capsys):
    from fastmf.__main__ import build_parser
    parser = build_parser()
    sub = next(a for a in parser._actions if a.dest == "command").choices[name]
    for action in sub._actions:
        if action.dest == "help":
            continue
        assert action.help, f"fastmf {name}: {action.option_strings or action.dest} has no help"
    with pytest.raises(SystemExit):
        main([name, "--help"])
    out = capsys.readouterr().out
    for action in sub._actions:
        if action.option_strings and action.default not in (None, False, "==SUPPRESS=="):
            assert f"(default: {action.default}" in " ".join(out.split()) or "default:" in (
                action.help or ""), f"fastmf {name}: {action.option_strings} hides its default"


def test_version(capsys):
    with pytest.raises(SystemExit) as stop:
        main(["--version"])
    assert stop.value.code == 0
    assert capsys.readouterr().out.strip() == f"fastmf {fastmf.__version__}"


def test_tune_prints_the_best_setting_and_saves_the_refit(log_csv, tmp_path, capsys):
    out_path = tmp_path / "best.npz"
    assert main(["tune", str(log_csv), *COLUMNS, "--factors", "4", "--iterations", "3",
                 "--quiet", "-o", str(out_path), "--metric", "ndcg@5"]) == 0
    out = capsys.readouterr().out
    assert "best: reg=" in out and "ndcg@5" in out
    best = int(out.split("iterations=")[1].split()[0])
    model = fastmf.load(out_path)
    # the refit runs the best iteration count found
    assert model.user_ids_ is not None and model.iterations == best <= 3


def test_tune_refuses_a_model_without_steps_in_one_line(log_csv, capsys):
    code = main(["tune", str(log_csv), *COLUMNS, "--model", "svd", "--factors", "4"])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 1 and len(err) == 1
    assert "tune searches models fitted in steps" in err[0]


def test_progress_bars_only_on_a_terminal_unless_asked(log_csv, tmp_path, monkeypatch):
    import contextlib

    import fastmf.__main__ as cli
    from fastmf.models import _fit_loop
    asked = []

    @contextlib.contextmanager
    def bar(steps, show, name):
        asked.append(show)
        yield type("Bar", (), {"update": lambda self, record: None})()

    monkeypatch.setattr(_fit_loop, "progress_bar", bar)
    monkeypatch.setattr(cli, "tqdm_available", lambda: True)
    run = ["fit", str(log_csv), *COLUMNS, "--factors", "4", "--iterations", "2", "-o",
           str(tmp_path / "m.npz")]
    assert main(run) == 0  # stderr is not a terminal under pytest
    assert asked and not any(asked)
    asked.clear()
    assert main([*run, "--progress"]) == 0
    assert asked and all(asked)
    # tune's own progress follows the same rule
    from fastmf.evaluation import _tune
    shown = []
    monkeypatch.setattr(_tune, "tune", lambda *a, **k: shown.append(k["show_progress"])
                        or (_ for _ in ()).throw(SystemExit(0)))
    for extra, want in (([], False), (["--progress"], True)):
        with pytest.raises(SystemExit):
            main(["tune", str(log_csv), *COLUMNS, "--factors", "4", *extra])
        assert shown[-1] is want


def test_evaluate_reports_rmse_for_a_ratings_model_with_auto_target():
    from conftest import random_csr
    A = random_csr(60, 40, 0.2, 3)
    model = fastmf.WALS(4, kind="ratings", iterations=2).fit(A)
    assert model.target == "auto"
    result = fastmf.evaluate(model, A, random_csr(60, 40, 0.05, 4), k=5)
    assert "rmse" in result and "mae" in result


def test_evaluate_warns_when_every_test_entry_is_in_train():
    from conftest import random_csr
    A = random_csr(60, 40, 0.2, 3)
    model = fastmf.WALS(4, iterations=2).fit(A)
    with pytest.warns(RuntimeWarning, match="Every test entry is also in train"):
        fastmf.evaluate(model, A, A, k=5)


def test_the_docs_extra_installs_what_the_examples_import():
    import re
    import tomllib
    from pathlib import Path
    root = Path(__file__).resolve().parent.parent
    extras = tomllib.loads((root / "pyproject.toml").read_text())["project"][
        "optional-dependencies"]
    docs = " ".join(extras["docs"] + tomllib.loads((root / "pyproject.toml").read_text())[
        "project"]["dependencies"])
    provides = {"distributed": "dask[distributed]", "dask": "dask", "pandas": "pandas",
                "matplotlib": "matplotlib", "scipy": "scipy", "numpy": "numpy"}
    for example in (root / "examples").glob("*.py"):
        for mod in re.findall(r"^\s*(?:from|import) (\w+)", example.read_text(), re.M):
            if mod in provides:
                assert provides[mod] in docs, f"{example.name} imports {mod}"
