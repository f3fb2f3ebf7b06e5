"""Saving and loading models: a NumPy ``.npz`` archive (no pickle), written atomically and
checked field by field when read back."""

from __future__ import annotations

import json
import os
import tempfile
import zipfile
import zlib
from typing import TYPE_CHECKING

import numpy as np

from ..core import _validation as v

if TYPE_CHECKING:
    from ._base import FactorModel


FORMAT = 1
_REGISTRY = {}


def register_model(cls):
    """Class decorator: make ``cls`` loadable by :func:`load` under its name."""
    _REGISTRY[cls.__name__] = cls
    return cls


# Files written before the ranking losses became estimators of their own hold class 'SGD'
# with a 'loss' parameter (and 'sampling', 'max_trials'): they load as the matching class.
_SGD_LOSSES = {"logistic": "LogisticMF", "bpr": "BPR", "warp": "WARP"}
_SGD_RANKING_PARAMS = ("loss", "sampling", "max_trials")


def _current_class(name, params, resolved):
    """(class name, whether the parameters must be cut to the class's) of a file's
    class ``name``, parameters ``params`` and resolved parameters ``resolved`` (both
    updated in place)."""
    if name != "SGD" or "loss" not in params:
        return name, False
    loss = params["loss"]
    if loss in _SGD_LOSSES:
        # the ranking estimators have no unobserved term, kind, target or gravity, and
        # their biases are True or False (SGD's 'auto' was False for a ranking loss)
        if params.get("biases") == "auto":
            params["biases"] = bool(isinstance(resolved, dict) and resolved.get("biases"))
        if isinstance(resolved, dict) and resolved.get("biases") == "auto":
            resolved["biases"] = params["biases"]
        return _SGD_LOSSES[loss], True
    for key in _SGD_RANKING_PARAMS:
        params.pop(key, None)
    return name, False


def _encode_params(params):
    plain, arrays = {}, {}
    for name, value in params.items():
        if isinstance(value, np.ndarray):
            arrays["param__" + name] = value
        elif isinstance(value, np.random.Generator):
            plain[name] = None
        elif isinstance(value, np.dtype) or (isinstance(value, type)
                                             and issubclass(value, np.generic)):
            plain[name] = np.dtype(value).name
        elif isinstance(value, (np.integer, np.floating, np.bool_)):
            plain[name] = value.item()
        else:
            plain[name] = value
    return plain, arrays


def save_model(model, path):
    """Write ``model`` to ``path``: a temporary file in the same folder, flushed to disk,
    then renamed over ``path``, so a failed or interrupted save leaves any previous file at
    ``path`` intact."""
    params, arrays = _encode_params(model._saved_params())
    meta = {"class": type(model).__name__, "params": params,
            "global_mean": float(model.global_mean), "format": FORMAT}
    if model.is_fitted and model.resolved_params_ is not None:
        resolved, resolved_arrays = _encode_params(model._saved_resolved_params())
        meta["resolved"] = resolved
        arrays.update({"resolved__" + k[len("param__"):]: a
                       for k, a in resolved_arrays.items()})
    state = {"meta": np.array(json.dumps(meta))}
    if model.is_fitted:
        state["user_factors"] = model.user_factors
        state["item_factors"] = model.item_factors
        if model.user_biases is not None:
            state["user_biases"] = model.user_biases
            state["item_biases"] = model.item_biases
        if model._seen is not None:
            state["seen_indptr"] = model._seen.indptr
            state["seen_indices"] = model._seen.indices
            if model._seen_values:
                state["seen_data"] = model._seen.data[:model._seen.nnz]
            state["seen_shape"] = np.array(model._seen.shape)
        if model._optimizer is not None:
            state.update({"optimizer__" + k: a for k, a in model._optimizer.items()})
        if model.user_ids_ is not None:
            state["user_ids"] = np.asarray(model.user_ids_)
            state["item_ids"] = np.asarray(model.item_ids_)
    state["extra__history"] = np.array(json.dumps(getattr(model, "history_", [])))
    path = os.fspath(path)
    folder = os.path.dirname(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(prefix=".fastmf-", suffix=".npz.part", dir=folder)
    try:
        with os.fdopen(fd, "wb") as f:
            np.savez(f, **state, **arrays)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise


class ModelFileError(ValueError):
    """A model file that is not a fastmf model, or whose content is inconsistent."""


def _bad(path, field, why):
    return ModelFileError(f"{path}: field {field!r} {why}; the file is damaged or was not "
                          f"written by fastmf.save.")


def _factor_array(z, path, name, rows=None, cols=None):
    arr = z[name]
    if arr.dtype not in (np.float32, np.float64) or arr.ndim != 2:
        raise _bad(path, name, f"must be a 2-d float32/float64 array (got {arr.dtype}, "
                               f"{arr.ndim}-d)")
    if rows is not None and arr.shape[0] != rows:
        raise _bad(path, name, f"has {arr.shape[0]} rows, expected {rows}")
    if cols is not None and arr.shape[1] != cols:
        raise _bad(path, name, f"has {arr.shape[1]} columns, expected {cols}")
    if not np.all(np.isfinite(arr)):
        raise _bad(path, name, "holds NaN or infinite values")
    return arr


def _optimizer(z, path, U, m, n, schedule):
    """SGD's AdaGrad accumulators (non-negative, the factors' dtype; the factors' shapes,
    or two columns for ``schedule`` 'adagrad_rows')."""
    cols = 2 if schedule == "adagrad_rows" else U.shape[1]
    state = {"g2u": _factor_array(z, path, "optimizer__g2u", m, cols),
             "g2v": _factor_array(z, path, "optimizer__g2v", n, cols),
             "g2ub": _vector(z, path, "optimizer__g2ub", m),
             "g2vb": _vector(z, path, "optimizer__g2vb", n)}
    for name, arr in state.items():
        if arr.size and (arr.dtype != U.dtype or arr.min() < 0):
            raise _bad(path, "optimizer__" + name, f"must be non-negative {U.dtype}")
    return state


def _vector(z, path, name, length, kind="f"):
    arr = z[name]
    if arr.ndim != 1 or arr.shape[0] != length or arr.dtype.kind not in kind:
        raise _bad(path, name, f"must be a 1-d array of length {length} (got shape "
                               f"{arr.shape}, dtype {arr.dtype})")
    if kind == "f" and not np.all(np.isfinite(arr)):
        raise _bad(path, name, "holds NaN or infinite values")
    return arr


def _decode_dtype(params):
    if isinstance(params.get("dtype"), str):
        try:
            params["dtype"] = np.dtype(params["dtype"]).type
        except TypeError:
            pass  # reported by the parameter check
    return params


def load_model(path: str | os.PathLike) -> FactorModel:
    """Read a model written by ``save``, checking every field against the others. Every
    failure to read the file -- not a zip archive, a bad CRC, a file cut short, a missing
    member, a member of the wrong dtype or shape -- is a :class:`ModelFileError` naming
    the file and the cause."""
    try:
        return _load(path)
    except ModelFileError:
        raise
    except (zipfile.BadZipFile, zlib.error, OSError, EOFError, KeyError, ValueError,
            TypeError, IndexError, AttributeError, MemoryError) as exc:
        cause = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
        raise ModelFileError(f"{os.fspath(path)}: cannot be read ({cause}); the file is "
                             f"damaged or was not written by fastmf.save.") from None


def _load(path):
    try:
        z = np.load(path, allow_pickle=False)
    except (OSError, ValueError, EOFError) as exc:
        raise ModelFileError(f"{path} is not a fastmf model file ({exc}).") from None
    with z:
        try:
            meta = json.loads(str(z["meta"]))
            params = dict(meta["params"])
            name, cut = _current_class(meta["class"], params, meta.get("resolved"))
            cls = _REGISTRY[name]
        except (KeyError, ValueError, TypeError) as exc:
            raise ModelFileError(f"{path} is not a fastmf model file.") from exc
        if meta.get("format") != FORMAT:
            raise _bad(path, "format", f"is {meta.get('format')!r}, this version reads "
                                       f"{FORMAT}")
        params = _decode_dtype(params)
        for key in z.files:
            if key.startswith("param__"):
                params[key[len("param__"):]] = z[key]
        if cut:
            names = cls._get_param_names()
            params = {k: val for k, val in params.items() if k in names}
        resolved = meta.get("resolved")
        try:
            model = cls(**params)
            model._validate_params()
            if isinstance(resolved, dict):
                resolved = _decode_dtype(dict(resolved))
                for key in z.files:
                    if key.startswith("resolved__"):
                        resolved[key[len("resolved__"):]] = z[key]
                # the values the fit ran with, checked like parameters
                checked = cls(**{k: val for k, val in resolved.items()
                                 if k in params})._validate_params()
                model.resolved_params_ = vars(checked)
                model._fit_params = model.get_params()
                model._weighting = model._build_weighting(checked)
            elif "user_factors" in z.files:
                model._weighting = model._build_weighting(model._validate_params())
        except (TypeError, ValueError) as exc:
            raise ModelFileError(f"{path}: invalid parameters ({exc}).") from None
        gm = meta.get("global_mean", 0.0)
        if isinstance(gm, bool) or not isinstance(gm, (int, float)) or not np.isfinite(gm):
            raise _bad(path, "global_mean", f"must be a finite number (got {gm!r})")
        if "user_factors" in z.files:
            U = _factor_array(z, path, "user_factors", cols=model.factors)
            V = _factor_array(z, path, "item_factors", cols=U.shape[1])
            if V.dtype != U.dtype:
                raise _bad(path, "item_factors", f"has dtype {V.dtype}, user_factors "
                                                 f"{U.dtype}")
            m, n = U.shape[0], V.shape[0]
            model.user_factors, model.item_factors = U, V
            if "user_biases" in z.files:
                model.user_biases = _vector(z, path, "user_biases", m).astype(U.dtype)
                model.item_biases = _vector(z, path, "item_biases", n).astype(U.dtype)
            model.global_mean = float(gm)
            if "user_ids" in z.files:
                model.user_ids_ = _vector(z, path, "user_ids", m, kind="iuU")
                model.item_ids_ = _vector(z, path, "item_ids", n, kind="iuU")
                for name, ids in (("user_ids", model.user_ids_), ("item_ids", model.item_ids_)):
                    if ids.size > 1 and not np.all(ids[1:] > ids[:-1]):
                        raise _bad(path, name, "must be sorted and unique")
            if "seen_indptr" in z.files:
                shape = tuple(int(s) for s in z["seen_shape"])
                if shape != (m, n):
                    raise _bad(path, "seen_shape", f"is {shape}, the factors give {(m, n)}")
                indptr, indices = z["seen_indptr"], z["seen_indices"]
                values = "seen_data" in z.files
                data = (_vector(z, path, "seen_data", indices.shape[0]) if values
                        else np.ones(indices.shape[0], np.float32))
                import scipy.sparse as sp
                try:
                    seen = v.check_matrix(
                        sp.csr_array((data, indices, indptr), shape=shape), "seen items",
                        dtype=U.dtype if values else np.float32)
                except (ValueError, TypeError) as exc:
                    raise _bad(path, "seen_indptr/seen_indices", f"is not a valid matrix "
                                                                 f"({exc})") from None
                model._seen = seen
                model._seen_values = values
            if "optimizer__g2u" in z.files:
                schedule = (model.resolved_params_ or {}).get("lr_schedule")
                model._optimizer = _optimizer(z, path, U, m, n, schedule)
        if "extra__history" in z.files:
            try:
                history = json.loads(str(z["extra__history"]))
            except ValueError:
                raise _bad(path, "history", "is not valid JSON") from None
            model.history_ = history if isinstance(history, list) else []
    return model
