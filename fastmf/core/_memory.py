"""Memory checked before large allocations: a fit or a query whose working memory would
exceed what the machine has available fails at once with a clear error, instead of being
killed by the operating system's out-of-memory handler half-way."""


def available_bytes():
    """Memory available to a new allocation now (Linux: MemAvailable; elsewhere the free
    physical pages), or None when it cannot be told."""
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    try:
        import os
        return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (AttributeError, ValueError, OSError):
        return None


def _size(nbytes):
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if nbytes < 1024 or unit == "TiB":
            return f"{nbytes:.1f} {unit}" if unit != "B" else f"{int(nbytes)} B"
        nbytes /= 1024
    return f"{nbytes:.1f} TiB"


def check_memory(nbytes, what, knob):
    """Raise MemoryError naming ``what``, its size and ``knob`` (what reduces it) when
    ``nbytes`` exceeds the memory available now."""
    available = available_bytes()
    if available is not None and nbytes > available:
        raise MemoryError(f"{what} needs about {_size(nbytes)} of working memory, but "
                          f"{_size(available)} is available on this machine; {knob}.")
