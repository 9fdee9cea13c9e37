"""TextBlob sentiment of review texts: once per distinct text, over all cores, cached by a hash of the text.

TextBlob's default analyzer (PatternAnalyzer) is deterministic pure Python, so a score computed in a worker
process is bit-identical to one computed in the caller (floats cross the process boundary by pickle, exactly).

>>> score_texts(["I loved it", "dull"], processes=1)                               # doctest: +SKIP
array([[ 0.7 ,  0.8 ],
       [-0.5 ,  0.75]])
"""

from __future__ import annotations

import hashlib
import multiprocessing
import os
import threading
from collections.abc import Sequence
from importlib.metadata import version

import numpy as np
import pandas as pd

__all__ = [
    "SENTIMENT_COLUMNS",
    "ScoreTable",
    "score_text",
    "score_texts",
    "text_keys",
    "textblob_version",
]

SENTIMENT_COLUMNS = ("polarity", "subjectivity")
_MAX_CHUNK = 500  # texts per pool task: big enough to hide IPC, small enough for a smooth bar and balance


def textblob_version() -> str:
    return version("textblob")


def score_text(text: str) -> tuple[float, float]:
    """(polarity, subjectivity) of one text, as TextBlob(text).sentiment gives them."""
    from textblob import TextBlob

    sentiment = TextBlob(text).sentiment
    return float(sentiment.polarity), float(sentiment.subjectivity)


def _score_chunk(texts: list[str]) -> list[tuple[float, float]]:
    return [score_text(t) for t in texts]


def score_texts(texts: Sequence[str], *, processes: int | None = None, progress: bool = False) -> np.ndarray:
    """Scores of `texts` as an (n, 2) float64 array (polarity, subjectivity), in the order given.

    Each text is scored once as given: pass distinct texts. `processes=None` uses os.cpu_count(); with 1 (or
    fewer than two texts) everything runs in this process, otherwise a multiprocessing pool works through
    chunks of texts (see `_start_method` for how its workers are started).
    """
    from tqdm.auto import tqdm

    texts = list(texts)
    n = len(texts)
    out = np.empty((n, 2), dtype=np.float64)
    processes = (os.cpu_count() or 1) if processes is None else int(processes)
    if processes < 1:
        raise ValueError(f"processes must be >= 1, got {processes}")
    processes = min(processes, n)
    context = multiprocessing.get_context(_start_method()) if processes > 1 else None
    bar = tqdm(total=n, desc="TextBlob", unit="text", disable=not progress or n == 0, smoothing=0.1)
    with bar:
        if processes <= 1:
            for i, text in enumerate(texts):
                out[i] = score_text(text)
                bar.update(1)
            return out
        chunk = max(1, min(_MAX_CHUNK, -(-n // (processes * 16))))
        chunks = [texts[i:i + chunk] for i in range(0, n, chunk)]
        with context.Pool(processes) as pool:
            start = 0
            for scores in pool.imap(_score_chunk, chunks):  # imap keeps the order of `chunks`
                out[start:start + len(scores)] = scores
                start += len(scores)
                bar.update(len(scores))
    return out


def _start_method() -> str:
    """"fork" when this process has no other Python thread (fast: the workers inherit the imported TextBlob, and
    the caller's script needs no ``if __name__ == "__main__"`` guard), else "spawn" (forking a process whose other
    threads may hold locks can deadlock the child: a Streamlit server, a Dask client)."""
    if "fork" in multiprocessing.get_all_start_methods() and threading.active_count() == 1:
        return "fork"
    return "spawn"


def text_keys(texts: Sequence[str]) -> list[str]:
    """A stable key per text: hex BLAKE2b-128 of its UTF-8 bytes (lone surrogates kept by surrogatepass)."""
    return [hashlib.blake2b(t.encode("utf-8", "surrogatepass"), digest_size=16).hexdigest() for t in texts]


class ScoreTable:
    """Precomputed scores looked up by text: `table(texts) -> (len(texts), 2)` array; KeyError if one is absent.

    This is the `score_texts` argument `lfs.features.compute_partition` takes when the scores were computed
    beforehand (once per distinct text of several splits, in a pool, or read from the cache).
    """

    def __init__(self, texts: Sequence[str], scores: np.ndarray):
        self.index = pd.Index(list(texts), dtype=object)
        if not self.index.is_unique:
            raise ValueError("ScoreTable needs distinct texts")
        self.scores = np.asarray(scores, dtype=np.float64).reshape(len(self.index), 2)

    def __call__(self, texts: Sequence[str]) -> np.ndarray:
        pos = self.index.get_indexer(pd.Index(list(texts), dtype=object))
        if (pos < 0).any():
            raise KeyError(f"{int((pos < 0).sum())} texts have no precomputed TextBlob score")
        return self.scores[pos]
