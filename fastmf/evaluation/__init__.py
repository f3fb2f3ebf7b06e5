"""Evaluation and tools: metrics, the convergence study (:func:`fastmf.compare`) and
hyperparameter search (:func:`fastmf.tune`). Their public paths are :mod:`fastmf.metrics`,
:mod:`fastmf.compare` and :func:`fastmf.tune`."""
