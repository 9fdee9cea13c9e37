"""Synthetic Goodreads Young Adult data in the exact raw format of the real files.

`generate(out_dir, scale, seed)` writes the gzip JSON-lines files of `pipeline.data.rawformat` (the three
required ones and the authors file) plus GENERATED.json (scale, seed, parameters and the sha256 of each file,
so that `prepare` can tell generated files from real ones dropped in later, and so that the generator never
overwrites a file it did not write).
The same seed gives byte-identical files.
"""

from __future__ import annotations

import contextlib
import html
import json
import random
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from tqdm import tqdm

from pipeline.data import rawformat
from pipeline.data.files import MARKER_FILE, atomic_path, foreign_files, sha256_file, write_text_atomic
from pipeline.data.generate.authors import AuthorTally, write_authors
from pipeline.data.generate.behaviour import Interactions, make_interactions
from pipeline.data.generate.catalog import Catalog, book_record, make_catalog, series_names
from pipeline.data.generate.reviews import compose_review
from pipeline.data.generate.scales import SCALES, Scale, get_scale
from pipeline.data.generate.vocabulary import Vocabulary
from pipeline.data.generate.writer import DateFormatter, GzipLines, hex_ids
from pipeline.data.raw import RawDataError

GENERATOR_VERSION = 3  # 2: varied review text (book casts, places, sentiment swaps), authors file; 3: review lengths
INCOMPLETE_CHARS = 300  # review_text_incomplete is the HTML review cut near this length

__all__ = ["GENERATOR_VERSION", "MARKER_FILE", "SCALES", "GenerationReport", "generate", "get_scale"]


@dataclass(frozen=True)
class GenerationReport:
    out_dir: Path
    scale: str
    seed: int
    books: int
    users: int
    interactions: int
    reviews: int
    seconds: float


def generate(out_dir: str | Path, scale: str | Scale = "seed", seed: int = 0, *, progress: bool = False,
             compress_level: int = 3) -> GenerationReport:
    """Write synthetic raw files for `scale` into `out_dir` (created if missing); return what was written.

    Only files this generator wrote (listed with their current sha256 in GENERATED.json) are ever replaced: when
    `out_dir` holds any other raw file, RawDataError names it and nothing is written.
    """
    t0 = time.perf_counter()
    sc = get_scale(scale) if isinstance(scale, str) else scale
    out = Path(out_dir)
    _refuse_foreign_files(out)  # before any work, so nothing is written when the folder holds someone's data
    out.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    text_rng = random.Random(seed)
    cat = make_catalog(sc, rng)
    inter = make_interactions(sc, cat, rng)
    # all files are written to temp files first and moved into place together, once all are complete
    with contextlib.ExitStack() as stack:
        tmp = {name: stack.enter_context(atomic_path(out / name, suffix=".partial"))
               for name in rawformat.GENERATED_FILES}
        tally = _write_books(tmp[rawformat.BOOKS_FILE], cat, rng, text_rng, compress_level)
        write_authors(tmp[rawformat.AUTHORS_FILE], cat.author_id.tolist(), tally, seed, compress_level)
        n_reviews = _write_interactions_and_reviews(
            tmp[rawformat.INTERACTIONS_FILE], tmp[rawformat.REVIEWS_FILE], cat, inter, rng, text_rng,
            progress, compress_level)
        _refuse_foreign_files(out)  # again: a file may have been put there while generating (the files move next)
    marker = {
        "generator": "lf-workbench synthetic Goodreads YA",
        "version": GENERATOR_VERSION,
        "scale": sc.name,
        "seed": seed,
        "params": sc.params(),
        "files": {name: sha256_file(out / name) for name in rawformat.GENERATED_FILES},
    }
    write_text_atomic(out / MARKER_FILE, json.dumps(marker, indent=2, sort_keys=True) + "\n")
    return GenerationReport(out, sc.name, seed, cat.n_books, inter.n_users, len(inter.user), n_reviews,
                            time.perf_counter() - t0)


def _refuse_foreign_files(out: Path) -> None:
    foreign = foreign_files(out, rawformat.GENERATED_FILES)
    if foreign:
        raise RawDataError(f"refusing to overwrite raw files the generator did not write: {'; '.join(foreign)}. "
                           "Choose another --out folder, or move the file(s) away")


def _write_books(path: Path, cat: Catalog, rng: np.random.Generator, text_rng: random.Random,
                 level: int) -> AuthorTally:
    """Write the books file; return its per-author counts (the authors file's)."""
    n = cat.n_books
    tally = AuthorTally()
    names = series_names(len(cat.series_id), text_rng)
    # Similar books: mostly of the same genre, like Goodreads' "readers also enjoyed".
    by_genre = {g: np.flatnonzero(cat.genre == g) for g in np.unique(cat.genre)}
    n_similar = rng.integers(0, 19, n)
    coauthor = rng.random(n) < 0.12
    with GzipLines(path, level) as out:
        for b in range(n):
            pool = by_genre[cat.genre[b]]
            similar = cat.book_id[pool[rng.integers(0, len(pool), n_similar[b])]].tolist()
            co = [int(cat.author_id[rng.integers(len(cat.author_id))])] if coauthor[b] else []
            record = book_record(cat, b, text_rng, names, similar, co)
            tally.add(record)
            out.write(json.dumps(record))
    return tally


def _write_interactions_and_reviews(inter_path: Path, review_path: Path, cat: Catalog, it: Interactions,
                                    rng: np.random.Generator, text_rng: random.Random, progress: bool,
                                    level: int) -> int:
    n = len(it.user)
    user_ids = hex_ids(rng, it.n_users)
    review_ids = hex_ids(rng, n)
    book_ids = [str(x) for x in cat.book_id.tolist()]
    n_votes = np.floor(rng.lognormal(-1.5, 1.6, n)).astype(np.int64).tolist()
    n_comments = np.floor(rng.lognormal(-2.5, 1.3, n)).astype(np.int64).tolist()
    fmt = DateFormatter()
    cols = (it.user.tolist(), it.book.tolist(), it.is_read.tolist(), it.stars.tolist(), it.has_review.tolist(),
            it.review_tokens.tolist(), it.date_added.tolist(), it.date_updated.tolist(), it.read_at.tolist(),
            it.started_at.tolist())
    offsets = it.utc_offset_min.tolist()
    vocabulary = Vocabulary(text_rng.getrandbits(32))  # each book's names, places, objects for its reviews
    n_reviews = 0
    with GzipLines(inter_path, level) as inter_out, GzipLines(review_path, level) as review_out:
        rows = zip(*cols, review_ids, strict=True)
        for i, (u, b, read, stars, has_review, tokens, added, updated, read_at, started, rid) in enumerate(
                tqdm(rows, total=n, desc="interactions", unit="line", disable=not progress, mininterval=1.0)):
            off = offsets[u]
            dates = (fmt(added, off), fmt(updated, off), fmt(read_at, off), fmt(started, off))
            incomplete = '""'
            if has_review:
                text = compose_review(stars, tokens, text_rng, words=vocabulary.book(b))
                incomplete = json.dumps(_incomplete_html(text))
                review_out.write(json.dumps({
                    "user_id": user_ids[u], "book_id": book_ids[b], "review_id": rid, "rating": stars,
                    "review_text": text, "date_added": dates[0], "date_updated": dates[1],
                    "read_at": dates[2], "started_at": dates[3], "n_votes": n_votes[i],
                    "n_comments": n_comments[i],
                }))
                n_reviews += 1
            # Same bytes as json.dumps of the dict, formatted directly: this file has millions of lines.
            inter_out.write(
                f'{{"user_id": "{user_ids[u]}", "book_id": "{book_ids[b]}", "review_id": "{rid}", '
                f'"is_read": {"true" if read else "false"}, "rating": {stars}, '
                f'"review_text_incomplete": {incomplete}, "date_added": "{dates[0]}", '
                f'"date_updated": "{dates[1]}", "read_at": "{dates[2]}", "started_at": "{dates[3]}"}}')
    return n_reviews


def _incomplete_html(text: str) -> str:
    """The interactions file's raw-HTML preview of a review: escaped, <br /> paragraphs, cut with '...'."""
    raw = html.escape(text, quote=False).replace(" \n ", "<br /><br />")
    if len(raw) <= INCOMPLETE_CHARS:
        return raw
    cut = raw[:INCOMPLETE_CHARS].rsplit(" ", 1)[0]
    return cut + "..."
