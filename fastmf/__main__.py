"""Command line: ``fastmf compare | fit | recommend | evaluate`` (``fastmf <command> --help``)."""

import argparse
import ast
import os
import sys
import time
from importlib import import_module

import numpy as np

from ._install import install_hint
from .core._progress import tqdm_available
from .evaluation._methods import METHODS, MODELS


class CommandError(Exception):
    """A user-facing error: printed as one line, exit status 1."""


class _HelpFormatter(argparse.ArgumentDefaultsHelpFormatter):
    """Shows "(default: ...)" after each option's help, except where the help already
    says it or there is nothing to show (flags, None)."""

    def _get_help_string(self, action):
        text = action.help or ""
        if ("default:" in text or action.default is None or action.default is False
                or action.default == argparse.SUPPRESS):
            return text
        return super()._get_help_string(action)


def _say(args):
    return (lambda *a, **k: None) if args.quiet else print


# ---------------------------------------------------------------------------------- helpers
def _add_data_options(p):
    g = p.add_argument_group("data files (CSV / TSV / Parquet with a header row)")
    g.add_argument("--user", default="user", help="user id column")
    g.add_argument("--item", default="item", help="item id column")
    g.add_argument("--value", default=None,
                   help="value column (default: the column named value, rating or count if "
                        "there is one, else every entry is 1)")
    g.add_argument("--timestamp", default=None,
                   help="timestamp column, needed by --split time (default: none)")
    g.add_argument("--sep", default=None,
                   help="delimiter (default: tab for .tsv and .tab, else comma)")
    _add_data_home(p)


def _add_data_home(p):
    p.add_argument("--data-home", default=None, metavar="DIR",
                   help="folder of the data sets, where missing ones are downloaded to "
                        "(default: $FASTMF_DATA, else ~/.cache/fastmf)")


def _add_common(p):
    p.add_argument("--quiet", action="store_true",
                   help="no progress output (results are still printed)")
    p.add_argument("--progress", action="store_true",
                   help="progress output even when stderr is not a terminal (by default it "
                        "is shown on a terminal only, so logs get no progress bars)")


def _progress(args):
    """Whether to show progress: not with --quiet; with --progress; else on a terminal."""
    if args.quiet:
        return False
    return bool(getattr(args, "progress", False)) or sys.stderr.isatty()


def _add_model_options(p, model_default="wals", saved=False):
    p.add_argument("--model", default=model_default,
                   help=f"one of {', '.join(MODELS)}"
                        + (", or a model file (.npz) to evaluate as it is" if saved else ""))
    p.add_argument("--kind", choices=("implicit", "ratings"), default=None,
                   help="implicit feedback or explicit ratings (default: ratings for the "
                        "MovieLens data sets, implicit otherwise)")
    p.add_argument("--factors", type=int, default=64, help="embedding dimension")
    p.add_argument("--iterations", type=int, default=None,
                   help="WALS iterations (default: the model's, 15)")
    p.add_argument("--epochs", type=int, default=None,
                   help="SGD, BPR, LogisticMF, WARP epochs (default: the model's)")
    p.add_argument("--param", action="append", default=[], metavar="NAME=VALUE",
                   help="any other model parameter, e.g. --param reg=0.01; repeatable "
                        "(default: none)")
    p.add_argument("--threads", type=int, default=None,
                   help="threads for the kernels (default: all cores)")
    p.add_argument("--seed", type=int, default=0, help="random seed")


def _read(args, source):
    from .data._io import detect_value_column, read_interactions
    value = args.value
    if value is None:
        value = detect_value_column(source, args.sep)
        if value is not None:
            _say(args)(f"using column {value!r} as the value of each entry (--value names "
                       f"another)")
    data = read_interactions(source, user=args.user, item=args.item, value=value,
                             timestamp=args.timestamp, sep=args.sep, data_home=args.data_home,
                             show_progress=_progress(args))
    if data.nnz == 0:
        raise CommandError(f"{source} holds no interactions (a header and no rows?).")
    return data


def _kind(args, source):
    if args.kind is not None:
        return args.kind
    return "ratings" if str(source).startswith("movielens") else "implicit"


def _build_model(args, kind):
    name = args.model.lower()
    if name not in MODELS:
        raise CommandError(f"--model must be one of {', '.join(MODELS)}; got {args.model!r}.")
    model = MODELS[name]
    if kind == "ratings" and model.implicit_only:
        raise CommandError(f"--model {name} fits implicit feedback only; these are ratings "
                           f"(--kind implicit to fit them as implicit feedback).")
    params = model.params_for(kind)
    for steps in ("iterations", "epochs"):
        if getattr(args, steps) is not None and model.steps == steps:
            params[steps] = getattr(args, steps)
    for item in args.param:
        key, sep, raw = item.partition("=")
        if not sep or not key:
            raise CommandError(f"--param takes NAME=VALUE; got {item!r}.")
        try:
            value = ast.literal_eval(raw)
        except (ValueError, SyntaxError):
            value = raw
        params[key.strip()] = value
    cls = model.cls
    try:
        return cls(args.factors, num_threads=args.threads, random_state=args.seed, **params)
    except TypeError as exc:
        raise CommandError(f"{exc} (see help({cls.__name__}) for its parameters)") from exc


def _fit(model, data, args):
    t0 = time.perf_counter()
    model.fit(data, show_progress=_progress(args) and tqdm_available())
    return time.perf_counter() - t0


def _table(rows):
    width = max(len(k) for k in rows)
    return "\n".join(f"{k:<{width}}  {v:.4f}" for k, v in rows.items())


# ---------------------------------------------------------------------------------- commands
def cmd_compare(args):
    from .evaluation._compare import compare
    out = _say(args)
    methods = args.methods.split(",") if args.methods else None
    kwargs = {"methods": methods} if methods else {}
    out(f"fastmf compare: {args.data or 'embedded synthetic data set'}")
    t0 = time.perf_counter()
    result = compare(args.data, factors=args.factors, iterations=args.iterations,
                     epochs=args.epochs, k=args.k, kind=args.kind or "auto",
                     test_size=args.test_size, num_threads=args.threads,
                     random_state=args.seed, data_home=args.data_home,
                     show_progress=_progress(args), **kwargs)
    print(f"\n{result.data}\nobjective ({result.kind}): " + ", ".join(
        f"{k}={v}" for k, v in result.objective.items()))
    print(result.table())
    out(f"(kernels compiled or loaded from cache beforehand in {result.compile_seconds:.1f} s; "
        f"seconds = training time, evaluation excluded)")
    os.makedirs(args.out, exist_ok=True)
    csv_path = os.path.join(args.out, "curves.csv")
    result.to_csv(csv_path)
    result.to_json(os.path.join(args.out, "curves.json"))
    written = [csv_path, os.path.join(args.out, "curves.json")]
    try:
        png = os.path.join(args.out, "compare.png")
        result.plot(png, log_gap=args.log_gap)
        written.append(png)
    except ImportError:
        out(f"(no plot: matplotlib is not installed; {install_hint('plots')})")
    out(f"\nwrote {', '.join(written)} in {time.perf_counter() - t0:.1f} s")
    if result.interrupted:
        print("fastmf: interrupted; the files hold the steps that finished", file=sys.stderr)
        return 130
    return 0


def cmd_fit(args):
    out = _say(args)
    data = _read(args, args.data)
    kind = _kind(args, args.data)
    model = _build_model(args, kind)
    out(f"{data!r}; fitting {model!r}")
    seconds = _fit(model, data, args)
    model.save(args.output)
    last = model.history_[-1] if model.history_ else {}
    obj = f", objective {last['objective']:.6g}" if "objective" in last else ""
    out(f"fitted in {seconds:.1f} s{obj}; saved to {args.output}")
    return 0


def cmd_tune(args):
    from .evaluation._tune import tune
    out = _say(args)
    data = _read(args, args.data)
    kind = _kind(args, args.data)
    model = _build_model(args, kind)
    metric = args.metric or ("rmse" if kind == "ratings" else "ndcg@20")
    out(f"{data!r}; tuning {type(model).__name__} for {metric} on a {args.validation:.0%} "
        f"validation carve")
    result = tune(model, data, metric=metric, validation=args.validation,
                  random_state=args.seed, refit=args.output is not None,
                  show_progress=_progress(args))
    print(result.summary())
    steps = "iterations" if "iterations" in result.best_params else "epochs"
    searched = {k: result.best_params[k] for k in [*result.space, steps]}
    print("best: " + ", ".join(f"{k}={_short_value(val)}" for k, val in searched.items())
          + f"  ({metric} {result.best_score:.4f})")
    if args.output is not None:
        result.model.save(args.output)
        out(f"refit on all the data; saved to {args.output}")
    return 0


def _short_value(value):
    return f"{value:.4g}" if isinstance(value, float) else str(value)


def _load_model(path):
    from .models._persistence import load_model as load
    if not os.path.isfile(path):
        raise CommandError(f"no model file {path!r}.")
    return load(path)


def cmd_recommend(args):
    model = _load_model(args.model)
    if model.user_ids_ is None and not args.index:
        raise CommandError("this model was fitted on a bare matrix, without raw ids; "
                           "recommend takes user indices with --index.")
    if args.index:
        try:
            users = np.array([int(u) for u in args.users])
        except ValueError:
            raise CommandError(f"--index takes integer user indices; got {args.users}.") \
                from None
        ids, scores = model.recommend(users, k=args.k, filter_seen=not args.include_seen,
                                      ids="index")
        if model.item_ids_ is not None:
            ids = model.item_ids_[np.maximum(ids, 0)]
    else:
        try:
            ids, scores = model.recommend(np.array(args.users), k=args.k,
                                          filter_seen=not args.include_seen, ids="raw")
        except KeyError as exc:
            raise CommandError(f"{exc.args[0]} Unknown users are not in the training data; "
                               f"fold them in from their interactions instead.") from None
    print("user\trank\titem\tscore")
    for row, u in enumerate(args.users):
        for rank, (j, s) in enumerate(zip(ids[row], scores[row]), 1):
            if s == -np.inf:
                break
            print(f"{u}\t{rank}\t{j}\t{s:.5g}")
    return 0


def cmd_evaluate(args):
    from .data import _split as split
    from .evaluation._metrics import evaluate
    out = _say(args)
    if args.model.endswith(".npz"):
        model = _load_model(args.model)
        if model.user_ids_ is None:
            raise CommandError("this model was fitted without raw ids; evaluate it from "
                               "Python with fastmf.evaluate.")
        data = _read(args, args.data)
        from .data._interactions import Interactions
        test = Interactions(data.user_ids[data.users], data.item_ids[data.items], data.values,
                            user_ids=model.user_ids_, item_ids=model.item_ids_,
                            unknown="drop")
        if test.n_dropped:
            out(f"{test.n_dropped} test entries with users or items unknown to the model "
                f"were left out")
        train = model.seen_items
        if train is None:
            raise CommandError("this model file holds no training interactions to filter.")
    else:
        data = _read(args, args.data)
        kind = _kind(args, args.data)
        model = _build_model(args, kind)
        how = args.split
        if how == "random":
            s = split.random_holdout(data, args.test_size, random_state=args.seed, warn=False)
        elif how == "per-user":
            s = split.per_user(data, args.test_size, random_state=args.seed, warn=False)
        else:
            if data.timestamps is None:
                raise CommandError("--split time needs timestamps (--timestamp COLUMN for a "
                                   "file).")
            s = split.by_time(data, args.test_size, random_state=args.seed, warn=False)
        if s.cold_users.size or s.cold_items.size:
            out(f"{s.cold_users.size} users and {s.cold_items.size} items appear only in the "
                f"test side")
        out(f"{data!r}; {how} split, {s.test.nnz:,} test entries; fitting {model!r}")
        seconds = _fit(model, s.train, args)
        out(f"fitted in {seconds:.1f} s")
        train, test = s.train, s.test
    metrics = args.metrics.split(",") if args.metrics else None
    result = evaluate(model, train, test, k=args.k, metrics=metrics)
    print(_table(result))
    return 0


def build_parser():
    version = import_module(__package__ or "fastmf").__version__
    parser = argparse.ArgumentParser(
        prog="fastmf", description="Fast matrix factorization for recommenders.",
        epilog="Run 'fastmf COMMAND --help' for the options of a command.")
    parser.add_argument("--version", action="version", version=f"fastmf {version}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", title="commands")

    def command(name, help, description):
        return sub.add_parser(name, help=help, description=description,
                              formatter_class=_HelpFormatter)

    p = command("compare", "convergence study of WALS (CG, Cholesky), SGD and SVD on one "
                           "objective (offline by default)",
                "Fit WALS (CG and Cholesky), Hogwild SGD and truncated SVD on one data set "
                "and split; print a table to stdout and write the curves "
                "(OUT/curves.csv, OUT/curves.json) and a picture (OUT/compare.png, needs "
                "matplotlib).")
    p.add_argument("--data", default=None,
                   help="data-set name or CSV/Parquet file (default: an embedded synthetic "
                        "data set, 20,000 users x 5,000 items)")
    p.add_argument("--kind", choices=("implicit", "ratings"), default=None,
                   help="the objective (default: ratings for the MovieLens data sets, "
                        "implicit otherwise)")
    p.add_argument("--methods", default=None,
                   help=f"comma-separated subset of {', '.join(METHODS)} (default: all "
                        f"but {', '.join(n for n, m in METHODS.items() if not m.default)}; "
                        f"the ranking losses and observed-only on implicit data only)")
    p.add_argument("--factors", type=int, default=32, help="embedding dimension")
    p.add_argument("--iterations", type=int, default=10, help="WALS iterations")
    p.add_argument("--epochs", type=int, default=30, help="SGD epochs")
    p.add_argument("--k", type=int, default=10, help="cut-off of Recall@k and NDCG@k")
    p.add_argument("--test-size", type=float, default=0.2,
                   help="fraction of the entries held out")
    p.add_argument("--out", default="fastmf-compare", metavar="OUT",
                   help="output folder of curves.csv, curves.json and compare.png")
    p.add_argument("--log-gap", action="store_true", help="draw the objective panels as the "
                   "gap to the best objective, (objective - best) / best, on a log scale")
    p.add_argument("--threads", type=int, default=None,
                   help="threads for the kernels (default: all cores)")
    p.add_argument("--seed", type=int, default=0, help="random seed of the split and fits")
    _add_data_home(p)
    _add_common(p)
    p.set_defaults(func=cmd_compare)

    p = command("fit", "fit a model on a data set or file and save it (.npz)",
                "Fit a model on a data set or file and save it to --output (a NumPy .npz "
                "archive, read back with fastmf.load or 'fastmf recommend'). A summary goes "
                "to stdout and progress bars to stderr; --quiet silences both.")
    p.add_argument("data", help="data-set name (e.g. movielens-100k) or CSV/Parquet file")
    p.add_argument("-o", "--output", default="model.npz", help="model file to write")
    _add_model_options(p)
    _add_data_options(p)
    _add_common(p)
    p.set_defaults(func=cmd_fit)

    p = command("tune", "search a model's parameters on a validation carve of the data",
                "Carve a validation part out of DATA, search the model's parameters around "
                "its data-aware defaults by successive halving (fastmf.tune), print the best "
                "candidates and the best setting to stdout, and with --output refit it on "
                "all of DATA and save it.")
    p.add_argument("data", help="data-set name (e.g. movielens-100k) or CSV/Parquet file")
    p.add_argument("--metric", default=None,
                   help="ndcg@k, recall@k, precision@k, map@k or rmse (default: ndcg@20, "
                        "rmse for ratings)")
    p.add_argument("--validation", type=float, default=0.1,
                   help="fraction of the entries carved out for validation")
    p.add_argument("-o", "--output", default=None,
                   help="model file to write the refit best model to (default: none)")
    _add_model_options(p)
    _add_data_options(p)
    _add_common(p)
    p.set_defaults(func=cmd_tune)

    p = command("recommend", "print the top-k items and scores of users of a saved model",
                "Print the top-k items (raw ids) and scores for users to stdout, as "
                "tab-separated lines: user, rank, item, score.")
    p.add_argument("model", help="model file written by 'fastmf fit'")
    p.add_argument("users", nargs="+", help="raw user ids (row indices with --index)")
    p.add_argument("-k", "--k", type=int, default=10, help="items per user")
    p.add_argument("--index", action="store_true", help="users are row indices, not raw ids")
    p.add_argument("--include-seen", action="store_true",
                   help="keep items the user already has")
    _add_common(p)
    p.set_defaults(func=cmd_recommend)

    p = command("evaluate", "print the metrics of a saved model, or of a fit on a split",
                "With --model PATH.npz, evaluate that model on DATA (the test "
                f"interactions). Otherwise split DATA, fit --model ({', '.join(MODELS)}) on the "
                "training part and evaluate on the test part. The metrics go to stdout, "
                "one per line.")
    p.add_argument("data", help="data-set name or CSV/Parquet file")
    _add_model_options(p, saved=True)
    p.add_argument("--split", choices=("random", "per-user", "time"), default="random",
                   help="how DATA is split (ignored with a saved model)")
    p.add_argument("--test-size", type=float, default=0.2,
                   help="fraction held out (per user with --split per-user)")
    p.add_argument("-k", "--k", type=int, default=10, help="cut-off of the ranking metrics")
    p.add_argument("--metrics", default=None,
                   help="comma-separated, e.g. rmse,ndcg@20 (default: all that apply)")
    _add_data_options(p)
    _add_common(p)
    p.set_defaults(func=cmd_evaluate)
    return parser


def main(argv=None):
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return 2
    try:
        return args.func(args)
    except KeyboardInterrupt:
        print("fastmf: interrupted", file=sys.stderr)
        return 130
    except (CommandError, ValueError, TypeError, KeyError, OSError, ImportError,
            FloatingPointError) as exc:
        message = exc.args[0] if isinstance(exc, KeyError) and exc.args else exc
        message = " ".join(str(message).split())  # one line
        print(f"fastmf: error: {message}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
