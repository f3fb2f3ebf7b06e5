"""A fit in progress: what each model's iteration implements for the one fit loop of
:class:`fastmf.models._base.FactorModel`."""


class Run:
    """One fit in progress (subclasses: each model's iteration). ``steps`` iterations of
    ``step(it)``; ``labels(it)`` adds keys to the front of the iteration's record;
    ``after(record)`` may add keys and returns True to stop early; ``finish()`` runs after
    the last iteration; exceptions in ``keeps`` leave the model fitted (the run has already
    put the factors of the last good iteration back).

    A run whose data does not sit on this machine (:mod:`fastmf.distributed`) also says
    which raw ids it found (``ids``), what ``recommend`` filters by (``seen``) and how the
    objective is computed (``objective``)."""

    steps = 0
    csr_t = None
    keeps = ()
    #: the Numba dispatchers a step calls (a notice is shown while they first compile)
    kernels = ()
    #: False for runs that do not minimize the shared objective (SGD's ranking losses):
    #: the loop then records no ``objective``
    shared_objective = True

    #: (user_ids, item_ids) found by the run itself, or None for those of the input
    ids = None
    #: set by the loop before the first step: whether each record gets the objective
    track_objective = False

    def seen(self, csr):
        """The training structure kept for ``recommend``'s seen-item filter, or None."""
        return csr

    def objective(self, model, csr):
        """The objective after the last step."""
        return model._objective(csr, self.csr_t)

    def labels(self, it):
        return {}

    def step(self, it):
        raise NotImplementedError

    def after(self, record):
        return False

    def resumed(self):
        """Called after user code (a callback) ran between steps: drop any state derived
        from the factors that the next step would otherwise reuse."""

    def current(self):
        """Put the factors of the last complete step on the model, where they live
        elsewhere during the fit (before a callback, and after a Ctrl-C)."""

    def finish(self):
        pass
