import os
from pathlib import Path

import numpy as np
import pytest
import scipy.sparse as sp


def random_csr(m, n, density, seed, *, empty_rows=(), empty_cols=(), values="counts",
               dtype=np.float64):
    """Small random CSR with some rows and columns left empty on purpose."""
    rng = np.random.default_rng(seed)
    A = sp.random(m, n, density=density, random_state=rng, format="lil", dtype=dtype)
    for i in empty_rows:
        A[i, :] = 0
    for j in empty_cols:
        A[:, j] = 0
    A = sp.csr_array(A)
    A.eliminate_zeros()
    if values == "counts":
        A.data[:] = rng.integers(1, 6, A.nnz)
    elif values == "ratings":
        A.data[:] = rng.integers(1, 6, A.nnz)
    return A


@pytest.fixture
def small_counts():
    return random_csr(40, 30, 0.15, 0, empty_rows=(3, 17), empty_cols=(5, 29))


@pytest.fixture(scope="session")
def data_home():
    path = os.environ.get("FASTMF_DATA")
    if not path or not Path(path).is_dir():
        pytest.skip("FASTMF_DATA does not point at a data folder")
    return Path(path)
