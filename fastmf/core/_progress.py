"""Optional progress bars (tqdm is an optional dependency)."""

import warnings
from contextlib import contextmanager

from .._install import install_hint


class _NoBar:
    def update(self, record):
        pass


class _TqdmBar:
    def __init__(self, bar):
        self._bar = bar

    def update(self, record):
        if "objective" in record:
            self._bar.set_postfix(objective=f"{record['objective']:.6g}")
        self._bar.update(1)


def tqdm_available():
    """Whether the optional progress bars can be shown."""
    try:
        import tqdm  # noqa: F401
    except ImportError:
        return False
    return True


@contextmanager
def progress_bar(total, enabled, desc):
    if not enabled:
        yield _NoBar()
        return
    try:
        from tqdm.auto import tqdm
    except ImportError:
        warnings.warn(f"show_progress=True needs tqdm ({install_hint('progress')}); "
                      "fitting without a progress bar.", RuntimeWarning, stacklevel=3)
        yield _NoBar()
        return
    bar = tqdm(total=total, desc=desc, unit="it")
    try:
        yield _TqdmBar(bar)
    finally:
        bar.close()
