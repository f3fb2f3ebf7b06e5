"""DaskWALS on one machine (2 worker processes x 1 thread) against WALS on 2 threads.

The same synthetic power-law matrix (fastmf.datasets.make_synthetic, 100k x 20k, 5.7M
nonzeros; --quick: 20k x 5k, 600k), d = 64, float32, the same seed. Both fits run
--iterations iterations without objective tracking; the figure is the median seconds per
iteration (each iteration's solve time as ``history_`` records it) over --rounds
alternating pairs of fits, since the machine is shared and its speed drifts. The Dask fit
keeps its default checkpoint (every factor block copied to a second worker each
iteration). Also printed:

- the Dask fit's set-up (cluster already running: parts scattered, blocks built, initial
  factors drawn on the workers) and the final gather of the factors -- once per fit;
- bytes through the client per iteration (``history_``'s bytes_sent / bytes_received:
  the arrays the client sends and gathers, d x d summaries);
- bytes between workers per iteration, from Dask's own transfer log (each worker's
  incoming transfers over a fit, divided by its iterations; set-up and checkpoint copies
  included), in total and on the busiest worker, against the formula
  (``fastmf.distributed.layout.expected_bytes``: the rows each block references) plus the
  checkpoint copies ((m + n) d s);
- the largest difference between the two fits' factors.

    python benchmarks/dask_wals.py            # ~3 min on 2 cores
    python benchmarks/dask_wals.py --quick    # ~1 min
"""

import argparse
import statistics
import time

import numpy as np
from _common import OUT_DIR, JsonRecord, add_data_args, apply_quick, machine, machine_info

import fastmf
from fastmf.distributed import DaskWALS
from fastmf.distributed.layout import expected_bytes


def incoming(dask_worker):
    """Bytes this worker has fetched from other workers so far (Dask's transfer log)."""
    return sum(e["total"] for e in dask_worker.transfer_incoming_log)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_data_args(parser)
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--iterations", type=int, default=5)
    parser.add_argument("--solver", default="cg")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--out", default=str(OUT_DIR / "dask_wals.json"))
    args = apply_quick(parser.parse_args())
    from distributed import Client, LocalCluster

    print(machine())
    t0 = time.perf_counter()
    A = fastmf.datasets.make_synthetic(args.users, args.items, args.nnz, random_state=0)
    print(f"data: {A.shape[0]:,} x {A.shape[1]:,}, {A.nnz:,} nonzeros "
          f"({time.perf_counter() - t0:.1f} s to generate)")
    params = dict(factors=args.factors, iterations=args.iterations, solver=args.solver,
                  random_state=0)
    record = JsonRecord(args.out, machine=machine_info(), users=A.shape[0],
                        items=A.shape[1], nnz=A.nnz, **params, workers=args.workers)

    def local_fit():
        model = fastmf.WALS(**params, num_threads=args.workers).fit(
            A, track_objective=False)
        local_times.extend(h["seconds"] for h in model.history_)
        return model

    local_times, dask_times, setups, links = [], [], [], []
    fastmf.WALS(factors=8, iterations=1).fit(A[:1000])  # kernels compiled or loaded
    with LocalCluster(n_workers=args.workers, threads_per_worker=1, processes=True,
                      dashboard_address=":0") as cluster, Client(cluster) as client:
        DaskWALS(factors=8, iterations=1, client=client).fit(A[:1000])  # workers warm
        n_blocks = len(client.nthreads())
        # alternate the two fits: the machine is shared and its speed drifts
        for _ in range(args.rounds):
            local = local_fit()
            before = client.run(incoming)
            t0 = time.perf_counter()
            dist = DaskWALS(**params, client=client).fit(A, track_objective=False)
            setups.append(time.perf_counter() - t0 - sum(h["seconds"] for h in dist.history_))
            after = client.run(incoming)
            links.append({w: (after[w] - before.get(w, 0)) / args.iterations for w in after})
            dask_times.extend(h["seconds"] for h in dist.history_)
    local_s = statistics.median(local_times)
    dask_s = statistics.median(dask_times)
    setup = statistics.median(setups)
    sent = statistics.median(h["bytes_sent"] for h in dist.history_)
    received = statistics.median(h["bytes_received"] for h in dist.history_)
    rows = expected_bytes(A, args.factors, np.float32, n_blocks)
    m, n = A.shape
    s, d = 4, args.factors
    copies = (m + n) * d * s
    total_link = statistics.median(sum(x.values()) for x in links)
    busiest = statistics.median(max(x.values()) for x in links)
    diff = max(float(np.max(np.abs(dist.user_factors - local.user_factors))),
               float(np.max(np.abs(dist.item_factors - local.item_factors))))
    scale = float(np.max(np.abs(local.user_factors)))

    print(f"\nseconds per iteration (median of {len(local_times)}; {args.rounds} "
          f"alternating rounds), {args.solver}, d = {d}, float32")
    print(f"  WALS, {args.workers} threads                  {local_s:7.3f}   (range "
          f"{min(local_times):.3f}..{max(local_times):.3f})")
    print(f"  DaskWALS, {args.workers} workers x 1 thread   {dask_s:7.3f}   (range "
          f"{min(dask_times):.3f}..{max(dask_times):.3f})   ratio {dask_s / local_s:.2f}x")
    print(f"  DaskWALS set-up and final gather {setup:7.2f} s once per fit")
    print("\nbytes per iteration through the client")
    print(f"  sent {sent:,.0f} B, received {received:,.0f} B  (two d x d float64 summaries: "
          f"{2 * d * d * 8:,} B)")
    print("bytes per iteration between workers (Dask's transfer log)")
    print(f"  all links {total_link / 1e6:9.2f} MB   formula: referenced rows "
          f"{rows / 1e6:.2f} MB + checkpoint copies {copies / 1e6:.2f} MB = "
          f"{(rows + copies) / 1e6:.2f} MB")
    print(f"  busiest worker's incoming {busiest / 1e6:9.2f} MB")
    print(f"\nlargest factor difference DaskWALS - WALS: {diff:.2e} "
          f"(largest factor {scale:.2e})")
    record.set(local_seconds=local_times, dask_seconds=dask_times,
               local_median=local_s, dask_median=dask_s, ratio=dask_s / local_s,
               dask_setup_seconds=setup, client_bytes_sent=sent,
               client_bytes_received=received, link_bytes=total_link,
               busiest_link_bytes=busiest, formula_rows=rows, formula_copies=copies,
               n_blocks=n_blocks, max_factor_difference=diff)
    print(f"\nwritten to {args.out}")


if __name__ == "__main__":
    main()
