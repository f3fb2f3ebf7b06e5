"""The core: input validation, the parameter tables, threads, progress, interrupts,
memory checks, and the objective with its weighting. Built on the kernels alone."""
