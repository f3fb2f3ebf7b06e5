"""Run every benchmark (WALS and SGD) and write the figures to benchmarks/RESULTS.md.

    FASTMF_DATA=../shared/datasets python benchmarks/run_all.py [--quick]

Speed is measured side by side with implicit in one process (ratios are what to compare:
the machines these run on are shared and noisy); see each script's docstring for its method.
"""

import argparse
import contextlib
import datetime
import io
import sys
from pathlib import Path

import compile_time
import memory
import quality_ml100k
import sgd_vs_peers
import wals_vs_implicit
from _common import machine


def capture(fn, *args):
    buf = io.StringIO()
    with contextlib.redirect_stdout(buf):
        result = fn(*args)
    text = buf.getvalue()
    sys.stdout.write(text)
    sys.stdout.flush()
    return result, text


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--quick", action="store_true", help="small sizes, for a smoke run")
    p.add_argument("--out", default=str(Path(__file__).with_name("RESULTS.md")))
    args = p.parse_args()
    speed_args = ["--repeats", "5"] + (["--quick"] if args.quick else [])
    speed, speed_txt = capture(wals_vs_implicit.main, speed_args)
    mem, mem_txt = capture(memory.main, ["--nnz", "600000", "--users", "20000", "--items",
                                         "5000"] if args.quick else [])
    comp, comp_txt = capture(compile_time.main)
    qual, qual_txt = capture(quality_ml100k.main, ["--quick"] if args.quick else [])
    sgd, sgd_txt = capture(sgd_vs_peers.main, ["--quick"] if args.quick else [])

    lines = [
        "# Benchmark results",
        "",
        f"Generated {datetime.date.today().isoformat()} by `python benchmarks/run_all.py"
        f"{' --quick' if args.quick else ''}`.",
        f"Machine: {machine()}.",
        "",
        "## WALS speed against implicit 0.7.3 (same process, interleaved runs)",
        "",
        "Seconds per iteration = (fit of 4 iterations - fit of 1) / 3, median of 5; "
        "objectives after 15 iterations both scored with `fastmf.objective`.",
        "",
        "| solver | fastmf s/it | implicit s/it | ratio | target | objective gap |",
        "|---|---|---|---|---|---|",
    ]
    targets = {"cg": 0.5, "cholesky": 0.35}
    for r in speed:
        ratio = r["fastmf"] / r["implicit"]
        gap = 100 * (r["obj_fastmf"] / r["obj_implicit"] - 1)
        lines.append(f"| {r['solver']} | {r['fastmf']:.3f} | {r['implicit']:.3f} | "
                     f"{ratio:.2f} | <= {targets[r['solver']]} | {gap:+.2f}% |")
    lines += ["", "```", speed_txt.strip(), "```", "",
              "## Peak memory of a fit", "", "```", mem_txt.strip(), "```", "",
              "## Compile time", "", "```", comp_txt.strip(), "```", "",
              "## Quality on MovieLens 100K (ratings >= 4, 20% held out, tuned on validation)",
              "", "```", qual_txt.strip(), "```", "",
              "## Hogwild SGD: speed against LibMF (pip) and Surprise; RMSE on MovieLens 100K",
              "", "Targets: >= 25M rating updates/s on 2 cores; test RMSE <= 0.905. The pip "
              "LibMF build is measured (not the AVX-compiled C++ LibMF).", "",
              "```", sgd_txt.strip(), "```", ""]
    Path(args.out).write_text("\n".join(lines))
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
