"""The registry of supported data sets: where each comes from and how to check it.

Every entry records the official download, the digests it must match before anything is
unpacked, and where its files lie once unpacked (``<data_home>/<folder>/<file>``, the layout
the official archive unpacks to). Digests are the ones the publisher gives (GroupLens puts an
``<archive>.md5`` file next to each zip; Zenodo lists an md5 per file) or, where a digest is
not published, the one recorded by a well-known project; each carries a comment saying where
it was found. ``None`` means no digest could be found: such a download is refused unless the
caller passes ``verify=False``.

To fetch from a mirror instead, set the environment variable ``FASTMF_DATASETS_URL`` to a
base URL: the download then comes from ``<base>/<filename>`` (see :func:`source_url`).
Tests replace an entry in :data:`CATALOGUE` (``dataclasses.replace``) to point it at a
local server and a fixture's digests.
"""

import os
from dataclasses import dataclass

URL_ENV = "FASTMF_DATASETS_URL"

_GROUPLENS = "https://files.grouplens.org/datasets"

_MOVIELENS_LICENCE = ("GroupLens usage licence: research use only; no redistribution without "
                      "permission; cite Harper & Konstan (2015); no commercial use without "
                      "permission (see the README in the archive)")
_MOVIELENS_CITATION = ("F. Maxwell Harper and Joseph A. Konstan. 2015. The MovieLens Datasets: "
                       "History and Context. ACM TiiS 5(4), Article 19. DOI 10.1145/2827872")


@dataclass(frozen=True)
class Dataset:
    """One downloadable data set.

    Attributes
    ----------
    name : str
        Name passed to :func:`fastmf.datasets.load`.
    description : str
        One line for :func:`fastmf.datasets.list_datasets`.
    url : str
        Official download.
    filename : str
        Name of the downloaded file (the archive, or the data file itself).
    size : int or None
        Bytes of the download as published, for the messages and the progress bar.
    md5, sha256 : str or None
        Hex digests of the download; every recorded one must match.
    folder : str
        Folder under the data home that holds the unpacked files.
    archive_root : str or None
        Folder inside the archive that becomes ``folder`` ('' when the archive holds its
        files at the top level; None when the download is the data file itself).
    files : tuple of str
        Files (relative to ``folder``) that must exist for the data set to be present; the
        first is the one parsed.
    parser : str
        Name of the parser in ``fastmf.datasets._loaders``.
    licence, citation : str
        What the publisher states, and what to cite.
    stats : str
        Counts as published (for the catalogue table).
    """

    name: str
    description: str
    url: str
    filename: str
    size: int | None
    md5: str | None
    sha256: str | None
    folder: str
    archive_root: str | None
    files: tuple
    parser: str
    licence: str
    citation: str
    stats: str = ""

    @property
    def verifiable(self):
        return self.md5 is not None or self.sha256 is not None


def _movielens(name, zipname, folder, ratings, parser, description, stats, size, md5, sha256):
    return Dataset(
        name=name, description=description, url=f"{_GROUPLENS}/movielens/{zipname}",
        filename=zipname, size=size, md5=md5, sha256=sha256, folder=folder,
        archive_root=folder, files=(ratings,), parser=parser, licence=_MOVIELENS_LICENCE,
        citation=_MOVIELENS_CITATION, stats=stats)


# Digest sources, cited once here and referred to below:
# [GL]   GroupLens's own <archive>.md5 files (files.grouplens.org/datasets/movielens/
#        <zip>.md5, "MD5 (<zip>) = <hex>"), quoted verbatim with that URL in e.g. NVIDIA's
#        MLPerf NCF scripts (ncf/verify_dataset.sh: ml-1m, ml-20m, ml-25m), and the same
#        values in many dataset registries (eli-osherovich/papers_with_code
#        datasets/movielens/dl_config.py: ml-100k, 1m, 10m, 20m, 25m).
# [TFDS] tensorflow/datasets, tensorflow_datasets/url_checksums/movielens.txt (size and
#        sha256 of ml-100k, ml-1m, ml-20m, ml-25m and ml-latest-small; commit 1c076ac3).
CATALOGUE = {d.name: d for d in [
    _movielens(
        "movielens-100k", "ml-100k.zip", "ml-100k", "u.data", "movielens_100k",
        "MovieLens 100K: 100,000 ratings 1-5 by 943 users on 1,682 movies (1998)",
        "100,000 ratings; 943 users; 1,682 movies",
        size=4_924_029,  # [TFDS]
        md5="0e33842e24a9c977be4e0107933c0723",  # [GL]
        sha256="50d2a982c66986937beb9ffb3aa76efe955bf3d5c6b761f4e3a7cd717c6a3229"),  # [TFDS]
    _movielens(
        "movielens-1m", "ml-1m.zip", "ml-1m", "ratings.dat", "movielens_dat",
        "MovieLens 1M: 1,000,209 ratings 1-5 by 6,040 users on 3,706 movies (2003)",
        "1,000,209 ratings; 6,040 users; 3,706 movies",
        size=5_917_549,  # [TFDS]
        md5="c4d9eecfca2ab87c1945afe126590906",  # [GL] (ml-1m.zip.md5)
        sha256="a6898adb50b9ca05aa231689da44c217cb524e7ebd39d264c56e2832f2c54e20"),  # [TFDS]
    _movielens(
        "movielens-10m", "ml-10m.zip", "ml-10M100K", "ratings.dat", "movielens_dat",
        "MovieLens 10M: 10,000,054 half-star ratings by 69,878 users on 10,677 movies (2009)",
        "10,000,054 ratings; 69,878 users; 10,677 movies",
        # Size as recorded next to the md5 by third-party pipelines; no sha256 is recorded
        # by a well-known project (tensorflow/datasets does not ship ml-10m).
        size=65_566_137,
        md5="ce571fd55effeba0271552578f2648bd",  # [GL] (ml-10m.zip.md5)
        sha256=None),
    _movielens(
        "movielens-20m", "ml-20m.zip", "ml-20m", "ratings.csv", "movielens_csv",
        "MovieLens 20M: 20,000,263 half-star ratings by 138,493 users on 26,744 movies (2015)",
        "20,000,263 ratings; 138,493 users; 26,744 movies",
        size=198_702_078,  # [TFDS]
        md5="cd245b17a1ae2cc31bb14903e1204af3",  # [GL] (ml-20m.zip.md5)
        sha256="96f243c338a8665f6bcc89c53edf6ee39162a846940de6b7c8c48aeada765ff3"),  # [TFDS]
    _movielens(
        "movielens-25m", "ml-25m.zip", "ml-25m", "ratings.csv", "movielens_csv",
        "MovieLens 25M: 25,000,095 half-star ratings by 162,541 users on 59,047 movies (2019)",
        "25,000,095 ratings; 162,541 users; 59,047 movies",
        size=261_978_986,  # [TFDS]
        md5="6b51fb2759a8657d3bfcbfc42b592ada",  # [GL] (ml-25m.zip.md5)
        sha256="8b21cfb7eb1706b4ec0aac894368d90acf26ebdfb6aced3ebd4ad5bd1eb9c6aa"),  # [TFDS]
    _movielens(
        "movielens-latest-small", "ml-latest-small.zip", "ml-latest-small", "ratings.csv",
        "movielens_csv",
        "MovieLens latest small: 100,836 half-star ratings by 610 users on 9,724 movies "
        "(2018 release; GroupLens may re-release it)",
        "100,836 ratings; 610 users; 9,724 movies (release of 09/2018)",
        # GroupLens re-releases the "latest" data sets from time to time; a new release has
        # new digests and is refused until this entry is updated (or verify=False).
        size=978_202,  # [TFDS]
        md5=None,  # GroupLens's ml-latest-small.zip.md5 is not quoted by any project found
        sha256="696d65a3dfceac7c45750ad32df2c259311949efec81f0f144fdfb91ebc9e436"),  # [TFDS]
    Dataset(
        name="lastfm-2k",
        description="Last.fm HetRec 2011: play counts of 1,892 users on 17,632 artists "
                    "(92,834 pairs)",
        url=f"{_GROUPLENS}/hetrec2011/hetrec2011-lastfm-2k.zip",
        filename="hetrec2011-lastfm-2k.zip",
        size=None,  # not published next to a digest anywhere found
        # md5 as recorded by sisinflab/DataRec (datarec/datasets/lastfm/lastfm_2011.py,
        # CHECKSUM, and its README "md5:296d61af..."); no other source found.
        md5="296d61afe4e8632b173fc2dd3be20ce2",
        sha256=None,
        folder="hetrec2011-lastfm-2k",
        archive_root="",  # the zip holds user_artists.dat etc. at its top level
        files=("user_artists.dat",),
        parser="hetrec_user_artists",
        licence="Non-commercial use (README of hetrec2011-lastfm-2k); commercial use needs "
                "Last.fm's permission",
        citation="Ivan Cantador, Peter Brusilovsky and Tsvi Kuflik. 2011. 2nd Workshop on "
                 "Information Heterogeneity and Fusion in Recommender Systems (HetRec 2011). "
                 "RecSys 2011.",
        stats="92,834 user-artist pairs; 1,892 users; 17,632 artists"),
    Dataset(
        name="lastfm-360k",
        description="Last.fm 360K (Celma): play counts of 359,347 users on artists "
                    "(17,559,530 rows)",
        # The data set's author (O. Celma, MTG-UPF) moved it to Zenodo, record 6090214
        # (doi:10.5281/zenodo.6090214); it used to be at
        # http://mtg.upf.edu/static/datasets/last.fm/lastfm-dataset-360K.tar.gz.
        url="https://zenodo.org/records/6090214/files/lastfm-dataset-360K.tar.gz?download=1",
        filename="lastfm-dataset-360K.tar.gz",
        size=569_202_935,  # Zenodo record 6090214
        md5="635e6ed3fc873aa4ba33aba0ebce02b1",  # Zenodo record 6090214 (md5 per file)
        sha256=None,
        folder="lastfm-dataset-360K",
        archive_root="lastfm-dataset-360K",
        files=("usersha1-artmbid-artname-plays.tsv",),
        parser="lastfm_360k",
        licence="Distributed with permission of Last.fm for non-commercial use (README; "
                "Zenodo licence other-nc)",
        citation="Oscar Celma. 2010. Music Recommendation and Discovery in the Long Tail. "
                 "Springer.",
        stats="17,559,530 rows; 359,347 users; 186,642 artists with MBID, 107,373 without"),
    Dataset(
        name="citeulike-a",
        description="CiteULike-a: 204,986 saves by 5,551 users of 16,980 articles (binary)",
        # Pinned to a commit of the author's repository (users.dat unchanged since
        # a4a4aead), so a later push cannot change what is downloaded.
        url="https://raw.githubusercontent.com/js05212/citeulike-a/"
            "91b603922d7f2d3db18071d4798bf78c9c5d1680/users.dat",
        filename="users.dat",
        size=1_094_785,
        # md5 of users.dat (git blob 01c329a6) as checked in shared/datasets/citeulike-a/
        # PROVENANCE.md; the sha256 was computed from that same verified copy.
        md5="b384e22f3b6cd9d0c8e11a13066fe70e",
        sha256="53211d82c14ff261e595634d285ed9fbf8049cf81dcb751d924d695b9612a02c",
        folder="citeulike-a",
        archive_root=None,  # the download is the data file itself
        files=("users.dat",),
        parser="citeulike",
        licence="No licence stated by the source repository; treat as research use only",
        citation="Chong Wang and David M. Blei. 2011. Collaborative Topic Modeling for "
                 "Recommending Scientific Articles. KDD 2011.",
        stats="204,986 user-article pairs; 5,551 users; 16,980 articles"),
]}


def get_entry(name):
    """The catalogue entry of ``name``; a ValueError lists the known names."""
    try:
        return CATALOGUE[name]
    except (KeyError, TypeError):
        raise ValueError(f"Unknown data set {name!r}; the known data sets are "
                         f"{sorted(CATALOGUE)}.") from None


def source_url(entry):
    """Where ``entry`` is downloaded from: ``$FASTMF_DATASETS_URL/<filename>`` when that
    variable is set (a mirror), else the official URL."""
    base = os.environ.get(URL_ENV, "").strip()
    if base:
        return base.rstrip("/") + "/" + entry.filename
    return entry.url
