"""
WALS on a Dask cluster
======================

Fit :class:`fastmf.distributed.DaskWALS` on a local cluster of two single-threaded worker
processes, check that it gives the factors of :class:`fastmf.WALS` from the same seed (at
the defaults, popularity-weighted unobserved entries included), and use the fitted model
without any cluster. On a real cluster, pass ``client=`` a ``distributed.Client`` connected
to its scheduler (see the scale-out guide).

Dask starts its worker processes by importing this script again, so the cluster is
started under ``if __name__ == "__main__":``.
"""

# %%
import numpy as np
from distributed import Client, LocalCluster

import fastmf
from fastmf.datasets import make_synthetic
from fastmf.distributed import DaskWALS

A = make_synthetic(5_000, 1_000, 60_000, random_state=4)
params = dict(factors=16, iterations=5, random_state=0, solver="cholesky")

# %%
# Two worker processes on this machine. The matrix and the factors are split into row
# blocks (users) and column blocks (items) that stay on the workers for the whole fit;
# each half-sweep moves only the rows each block references, worker to worker.
if __name__ == "__main__":
    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                      dashboard_address=":0") as cluster, Client(cluster) as client:
        dist = DaskWALS(**params, client=client, n_blocks=2).fit(A)
    local = fastmf.WALS(**params).fit(A)

    print("largest difference from local WALS:",
          float(np.abs(dist.user_factors - local.user_factors).max()))
    print("objective per iteration:", [round(h["objective"], 1) for h in dist.history_])
    print("bytes through the client in the last iteration:",
          dist.history_[-1]["bytes_sent"] + dist.history_[-1]["bytes_received"])

# %%
# The fitted model is an ordinary fastmf model: no cluster is needed any more.
if __name__ == "__main__":
    ids, scores = dist.recommend([0, 1, 2], k=5)
    print(ids)
