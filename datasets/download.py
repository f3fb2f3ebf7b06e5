#!/usr/bin/env python
"""Download and verify public data sets into a data home, with fastmf's own code.

    python datasets/download.py --list
    python datasets/download.py movielens-100k citeulike-a
    python datasets/download.py all --data-home /data/fastmf

Each download is checked against the checksum recorded in ``fastmf/datasets/_catalogue.py``
before it is unpacked; a mismatch deletes it and exits with status 1. The data home is
``--data-home``, else ``$FASTMF_DATA``, else this folder (``datasets/``, whose
sub-folders git ignores), so ``FASTMF_DATA=$PWD/datasets`` then points tests and benchmarks
at what was downloaded. ``$FASTMF_DATASETS_URL`` fetches from a mirror instead
(``<base>/<archive name>``).
"""

import argparse
import os
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent

try:
    import fastmf.datasets as fd
except ImportError:  # run from a checkout without installing the package
    sys.path.insert(0, str(HERE.parent))
    import fastmf.datasets as fd
from fastmf.datasets._download import is_present


def main(argv=None):
    parser = argparse.ArgumentParser(
        description="Download and verify public recommender data sets.")
    parser.add_argument("names", nargs="*", metavar="NAME",
                        help="data sets to fetch ('all' for every one; see --list)")
    parser.add_argument("--list", action="store_true",
                        help="list the data sets, their sources and checksums, and exit")
    parser.add_argument("--data-home", default=None,
                        help="where to put them (default: $FASTMF_DATA, else this folder)")
    parser.add_argument("--no-verify", action="store_true",
                        help="accept a download whose checksum does not match (warns)")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")
    args = parser.parse_args(argv)

    if args.list or not args.names:
        for name, entry in fd.CATALOGUE.items():
            digests = ", ".join(f"{a} {h}" for a, h in (("md5", entry.md5),
                                                        ("sha256", entry.sha256)) if h)
            print(f"{name:24s} {entry.description}\n{'':24s} {entry.url}\n"
                  f"{'':24s} {digests or 'no checksum recorded'}")
        return 0

    names = list(fd.CATALOGUE) if "all" in args.names else args.names
    unknown = [n for n in names if n not in fd.CATALOGUE]
    if unknown:
        parser.error(f"unknown data set(s) {unknown}; known: {sorted(fd.CATALOGUE)}")
    home = args.data_home or os.environ.get("FASTMF_DATA", "").strip() or HERE
    status = 0
    for name in names:
        if is_present(fd.CATALOGUE[name], home):
            print(f"{name}: already in {Path(home) / fd.CATALOGUE[name].folder}")
            continue
        try:
            folder = fd.download(name, home, verify=not args.no_verify,
                                 show_progress=not args.quiet)
        except (fd.DatasetNotFoundError, fd.ChecksumMismatchError) as e:
            print(f"{name}: FAILED\n{e}", file=sys.stderr)
            status = 1
        else:
            print(f"{name}: ok, {folder}")
    return status


if __name__ == "__main__":
    sys.exit(main())
