"""Run every benchmark (WALS and SGD) and write the figures to benchmarks/RESULTS.md.

    FASTMF_DATA=../shared/datasets python benchmarks/run_all.py [--quick] [--threads N]
        [--kernels] [--thread-scaling] [--scale] [--losses] [--sgd-schedule]
        [--wals-factors]

Speed is measured side by side with the peers in one process (ratios are what to compare:
the machines these run on are shared and noisy); see each script's docstring for its method.
The optional sections are long: --kernels runs the pytest-benchmark file
(test_bench_kernels.py, 1-3 min), --thread-scaling runs thread_scaling.py (about 8 min on
16 cores), --scale runs scale.py (50M nonzeros), --losses runs losses_quality.py (every
ranking loss and implicit's BPR tuned on two data sets, about 2 h on 2 cores),
--sgd-schedule runs sgd_schedule.py (SGD's entry orders and LibMF against time, about 15
min; native LibMF when $LIBMF_NATIVE names a build), --wals-factors runs wals_vs_implicit.py
at 64 and 128 factors (about 15 min). With --quick every part runs small.

The tuned-quality scripts (quality_ml100k.py, sgd_vs_peers.py) run as child processes of
--peers-python (default: this interpreter), an environment holding the peers (implicit,
LibMF, Surprise), with fastmf imported from this checkout; a peer that is not installed
there is skipped (quality_ml100k.py) or fails loudly (sgd_vs_peers.py).
"""

import argparse
import contextlib
import datetime
import io
import os
import subprocess
import sys
from pathlib import Path

import compile_time
import memory
import peers
import scale
import serial_fraction
import thread_scaling
import wals_vs_implicit
from _common import OUT_DIR, machine

HERE = Path(__file__).resolve().parent


def capture(fn, *args):
    buf = io.StringIO()
    with contextlib.redirect_stdout(buf):
        result = fn(*args)
    text = buf.getvalue()
    sys.stdout.write(text)
    sys.stdout.flush()
    return result, text


def kernels(quick, out_json):
    """The pytest-benchmark file in a child process; returns its report."""
    cmd = [sys.executable, "-m", "pytest", str(HERE), "--benchmark-only", "-q",
           "--benchmark-columns=median,min,max,stddev,rounds", "--benchmark-sort=name",
           f"--benchmark-json={out_json}"] + (["-k", "small"] if quick else [])
    res = subprocess.run(cmd, cwd=HERE.parent, capture_output=True, text=True, check=False)
    text = res.stdout + (f"\n(pytest exited with {res.returncode})\n{res.stderr}"
                         if res.returncode else "")
    print(text, flush=True)
    keep = [line for line in text.splitlines()
            if line.strip() and not set(line.strip()) <= {"-", "="}
            and not line.startswith(("Legend", "  Outliers", "  OPS"))]
    return "\n".join(keep)


def run_script(python, script, args):
    """``python benchmarks/<script> args`` with fastmf and the benchmark helpers imported
    from this checkout; returns (and prints) its output."""
    path = os.pathsep.join(x for x in (str(HERE.parent), str(HERE),
                                       os.environ.get("PYTHONPATH")) if x)
    res = subprocess.run([python, str(HERE / script), *args], cwd=HERE.parent,
                         env=dict(os.environ, PYTHONPATH=path), capture_output=True,
                         text=True, check=False)
    text = res.stdout + (f"\n({script} exited with {res.returncode})\n{res.stderr}"
                         if res.returncode else "")
    print(text, flush=True)
    return text


def losses_section(text):
    """The RESULTS.md section of losses_quality.py's output: its final table."""
    table = text[text.find("data set"):].strip() if "data set" in text else text.strip()
    return [("## Ranking losses at defaults and tuned (NDCG@20, MovieLens 100K ratings >= 4 "
             "and CiteULike-a, 20% held out, tuned on validation)"), "",
            ("Each method at its defaults and tuned on a 10% validation carve with grids "
             "extended until the chosen setting is interior on every axis, epochs included "
             "(benchmarks/losses_quality.py); 64 factors, 1 thread. ratio = defaults / tuned "
             "test NDCG@20; fit s = seconds of the final fit at the defaults / tuned."),
            "", "```", table, "```", ""]


def schedule_section(text):
    """The RESULTS.md section of sgd_schedule.py's output."""
    return [("## SGD's entry orders and LibMF against time (MovieLens 100K ratings and "
             "synthetic 5.7M ratings)"), "",
            ("One objective for all (squared error + reg 0.05 per update, no biases, d = 64, "
             "AdaGrad (fastmf's per coordinate, or LibMF's: lr_schedule='adagrad_rows'), "
             "float32, 2 threads), scored from each method's factors; each step chosen as "
             "the one reaching 1.02x fastmf's lowest objective first, interior of its grid; "
             "medians of 3 runs taking turns (benchmarks/sgd_schedule.py)."),
            "", "```", text.strip(), "```", ""]


def wals_factors_section(quick):
    """The RESULTS.md section of wals_vs_implicit.py at 64 and 128 factors."""
    texts = []
    # (implicit's Cholesky at 128 factors takes about half a minute per iteration: CG only)
    for d, extra in (("64", ["--repeats", "5"]),
                     ("128", ["--repeats", "3", "--no-tracked", "--solvers", "cg"])):
        _, text = capture(wals_vs_implicit.main, ["--factors", d, *extra, *quick])
        texts.append(text.strip())
    return ["## WALS against implicit ALS at 64 and 128 factors", "",
            ("benchmarks/wals_vs_implicit.py: seconds per iteration = (fit of 4 iterations - "
             "fit of 1) / 3, 2 threads, medians of 5 (64 factors; CG and Cholesky) and 3 "
             "(128 factors; CG)."),
            "", "```", "\n\n".join(texts), "```", ""]


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--quick", action="store_true", help="small sizes, for a smoke run")
    p.add_argument("--threads", type=int, default=2,
                   help="threads for the side-by-side speed runs (default 2)")
    p.add_argument("--kernels", action="store_true", help="also run the pytest-benchmark file")
    p.add_argument("--thread-scaling", action="store_true", help="also run thread_scaling.py")
    p.add_argument("--scale", action="store_true", help="also run scale.py (50M nonzeros)")
    p.add_argument("--losses", action="store_true",
                   help="also run losses_quality.py (each ranking loss tuned, about 2 h)")
    p.add_argument("--sgd-schedule", action="store_true",
                   help="also run sgd_schedule.py (SGD's entry orders and LibMF, ~15 min)")
    p.add_argument("--wals-factors", action="store_true",
                   help="also run wals_vs_implicit.py at 64 and 128 factors (~15 min)")
    p.add_argument("--peers-python", default=sys.executable,
                   help="interpreter of an environment with implicit, LibMF and Surprise, "
                        "for the tuned-quality scripts (default: this one)")
    p.add_argument("--out", default=str(HERE / "RESULTS.md"))
    args = p.parse_args(argv)
    quick = ["--quick"] if args.quick else []
    command = " ".join(["python benchmarks/run_all.py"]
                       + list(sys.argv[1:] if argv is None else argv))

    side, side_txt = capture(peers.main, ["--repeats", "5", "--threads", str(args.threads),
                                          "--out", str(OUT_DIR / "peers.json"), *quick])
    _, mem_txt = capture(memory.main, ["--nnz", "600000", "--users", "20000", "--items",
                                       "5000"] if args.quick else [])
    _, comp_txt = capture(compile_time.main)
    qual_txt = run_script(args.peers_python, "quality_ml100k.py", quick)
    sgd_txt = run_script(args.peers_python, "sgd_vs_peers.py", ["--skip-speed", *quick])
    _, serial_txt = capture(serial_fraction.main, quick)

    lines = [
        "# Benchmark results",
        "",
        f"Generated {datetime.date.today().isoformat()} by `{command}`.",
        f"Machine: {machine()}.",
        "",
        (f"## Side by side with the peers ({side['threads']} threads, same process, "
         f"interleaved runs)"),
        "",
        ("WALS: seconds per iteration = (fit of 4 iterations - fit of 1) / 3, median of 5; "
         "objectives after 15 iterations both scored with `fastmf.objective`. 'tracked' is "
         "fastmf's fit recording the objective every iteration (its default), against the "
         "same fit without (target <= 1.05)."),
        "",
        ("| solver | fastmf s/it | implicit s/it | ratio | target | tracked / untracked | "
         "objective gap |"),
        "|---|---|---|---|---|---|---|",
    ]
    targets = {"cg": 0.45, "cholesky": 0.3}
    for r in side["wals"] or []:
        if "implicit" not in r:
            continue
        ratio = r["fastmf"] / r["implicit"]
        gap = 100 * (r["obj_fastmf"] / r["obj_implicit"] - 1)
        tracked = f"{r['tracked'] / r['fastmf']:.3f}" if "tracked" in r else "-"
        lines.append(f"| {r['solver']} | {r['fastmf']:.3f} | {r['implicit']:.3f} | "
                     f"{ratio:.2f} | <= {targets[r['solver']]} | {tracked} | {gap:+.2f}% |")
    if side["sgd"]:
        ours = next(r for r in side["sgd"] if r["library"] == "fastmf")
        lines += ["", ("Hogwild SGD on synthetic ratings (80% train): seconds per epoch = "
                       "(4 epochs - 1) / 3, median of 5; test RMSE after the same number of "
                       "epochs with matched factors, step and L2 penalty. Target: >= 25M "
                       "rating updates/s on 2 cores. The pip LibMF build is measured (not "
                       "the AVX-compiled C++ LibMF); Surprise is single-threaded."),
                  "", "| library | s/epoch | M updates/s | fastmf / peer | test RMSE |",
                  "|---|---|---|---|---|"]
        for r in side["sgd"]:
            lines.append(f"| {r['library']} | {r['s_per_epoch']:.3f} | "
                         f"{r['updates_per_s'] / 1e6:.1f} | "
                         f"{ours['s_per_epoch'] / r['s_per_epoch']:.2f} | "
                         f"{r['test_rmse']:.4f} |")
    lines += ["", "```", side_txt.strip(), "```", "",
              "## Peak memory of a fit", "", "```", mem_txt.strip(), "```", "",
              "## Compile time", "", "```", comp_txt.strip(), "```", "",
              "## Serial part of a step (Amdahl), 1 and 2 threads", "", "```",
              serial_txt.strip(), "```", "",
              ("## Ranking quality on MovieLens 100K (ratings >= 4) and CiteULike-a (20% held "
               "out, tuned on validation)"),
              "", "```", qual_txt.strip(), "```", "",
              "## Rating prediction on MovieLens 100K: SGD, WALS, Surprise, LibMF (tuned)",
              "", "Target: test RMSE <= 0.905.", "",
              "```", sgd_txt.strip(), "```", ""]

    if args.kernels:
        text = kernels(args.quick, OUT_DIR / "kernels.json")
        lines += ["## Kernels (pytest-benchmark, seconds)", "",
                  (f"`python -m pytest benchmarks --benchmark-only"
                   f"{' -k small' if args.quick else ''}`"), "", "```", text.strip(), "```",
                  ""]
    if args.thread_scaling:
        _, ts_txt = capture(thread_scaling.main, quick)
        lines += ["## Thread scaling", "", "```", ts_txt.strip(), "```", ""]
    if args.scale:
        _, sc_txt = capture(scale.main, quick)
        lines += ["## WALS at scale", "", "```", sc_txt.strip(), "```", ""]
    if args.losses:
        lines += losses_section(run_script(args.peers_python, "losses_quality.py", []))
    if args.sgd_schedule:
        lines += schedule_section(run_script(args.peers_python, "sgd_schedule.py",
                                             ["--quick"] if args.quick else []))
    if args.wals_factors:
        lines += wals_factors_section(quick)

    Path(args.out).write_text("\n".join(lines))
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
