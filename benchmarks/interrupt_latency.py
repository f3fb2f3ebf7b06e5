"""How long a Ctrl-C takes to stop a fit: quiet, and beside 1 and 2 busy processes.

A child process fits WALS (CG, d = 64) or SGD on the side-by-side matrix (100k x 20k,
5.7M nonzeros; --quick: 20k x 5k, 600k) for ever; after a random delay it gets SIGINT, and
the latency is the time from the signal to the KeyboardInterrupt in the child. The busy
processes spin on the CPU for the whole measurement. Prints the median and the 95th
percentile per method and load, over --trials trials.

    python benchmarks/interrupt_latency.py --trials 20
"""

import argparse
import json
import multiprocessing
import os
import signal
import subprocess
import sys
import tempfile
import time

import numpy as np
import scipy.sparse as sp
from _common import OUT_DIR, JsonRecord, add_data_args, apply_quick, machine, machine_info

import fastmf

CHILD = r"""
import sys, time, json, warnings
import numpy as np, scipy.sparse as sp, fastmf
A = sp.load_npz(sys.argv[2])
warnings.simplefilter("ignore")
if sys.argv[1] == "wals":
    model = fastmf.WALS(64, iterations=1, random_state=0)
    model.fit(A[:2000])
    model.set_params(iterations=10**6)
else:
    model = fastmf.SGD(64, epochs=1, random_state=0)
    model.fit(A[:2000])
    model.set_params(epochs=10**6)
print("ready", flush=True)
try:
    model.fit(A)
except KeyboardInterrupt:
    print(json.dumps({"caught": time.time()}), flush=True)
"""


def spin(stop_at):
    while time.time() < stop_at:
        pass


def one(method, path, delay):
    proc = subprocess.Popen([sys.executable, "-c", CHILD, method, path],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert proc.stdout.readline().strip() == "ready", proc.stderr.read()
        time.sleep(delay)
        sent = time.time()
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=300)
    finally:
        if proc.poll() is None:
            proc.kill()
    return json.loads(out.strip().splitlines()[-1])["caught"] - sent


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_data_args(parser)
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--trials", type=int, default=10)
    parser.add_argument("--out", default=str(OUT_DIR / "interrupt_latency.json"))
    args = apply_quick(parser.parse_args())
    print(machine())
    A = fastmf.datasets.make_synthetic(args.users, args.items, args.nnz, random_state=0)
    path = os.path.join(tempfile.mkdtemp(), "A.npz")
    sp.save_npz(path, sp.csr_matrix(A))
    record = JsonRecord(args.out, machine=machine_info(), nnz=A.nnz)
    rng = np.random.default_rng(0)
    results = {}
    for busy in (0, 1, 2):
        spinners = [multiprocessing.Process(target=spin, args=(time.time() + 10**5,))
                    for _ in range(busy)]
        for p in spinners:
            p.start()
        try:
            for method in ("wals", "sgd"):
                lat = [one(method, path, float(rng.uniform(1.0, 4.0)))
                       for _ in range(args.trials)]
                results[f"{method}/{busy} busy"] = lat
                print(f"{method:5s} beside {busy} busy: median {np.median(lat):.3f} s, "
                      f"95th percentile {np.percentile(lat, 95):.3f} s, max {max(lat):.3f} s",
                      flush=True)
        finally:
            for p in spinners:
                p.terminate()
    record.set(results=results)
    print(f"written to {args.out}")


if __name__ == "__main__":
    main()
