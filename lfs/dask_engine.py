"""Per-row work on a Dask cluster, partition by partition: the built-in features and LF application.

`map_partitions` is the one building block: cut the rows into contiguous row ranges, run a plain function on
each range on the workers (with small shared lookups broadcast once), and put the results back by position.
`compute_features_dask` is `lfs.features.compute_partition` run that way; its result is identical to
`lfs.features.compute_features` (same code, same floats).

Workers must be able to import this project (`lfs`, `pipeline`) and its dependencies: the functions are sent by
reference (module + name), not by value. A LocalCluster started here runs this environment's Python; the workers
of a remote scheduler need the project installed in theirs (README.md, "Scaling out").

>>> with connect("local") as client:                                              # doctest: +SKIP
...     feats = compute_features_dask(data, "dev", scheduler=client)
>>> feats = compute_features_dask(data, "dev", scheduler="tcp://10.0.0.5:8786")    # doctest: +SKIP
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from pipeline.data.dataset import PreparedData

from .features import ROW_COLUMNS, FeatureLookups, build_lookups, compute_partition, feature_frame

if TYPE_CHECKING:  # dask is imported only by the functions that use it
    from distributed import Client

__all__ = ["compute_features_dask", "connect", "features_on_dask", "label_matrix_on_dask", "map_partitions",
           "partition_bounds"]

LOCAL = "local"
LOCAL_WORKERS = 2
CONNECT_TIMEOUT = "30s"


@contextmanager
def connect(scheduler: str, *, n_workers: int = LOCAL_WORKERS, timeout: str = CONNECT_TIMEOUT) -> Iterator[Client]:
    """A `distributed.Client`, closed on exit.

    scheduler: "local" starts a `LocalCluster(n_workers, threads_per_worker=1, processes=True)` without a
    dashboard, reachable as `client.cluster`, and closes it on exit too; an address such as "tcp://host:8786"
    connects to a running scheduler (`client.cluster` is None then; the cluster is left running). Connecting
    gives up after `timeout`.
    """
    from distributed import Client, LocalCluster

    if scheduler == LOCAL:
        with LocalCluster(n_workers=n_workers, threads_per_worker=1, processes=True, dashboard_address=None) \
                as cluster, Client(cluster, timeout=timeout) as client:
            yield client
    elif "://" in scheduler:
        with Client(scheduler, timeout=timeout) as client:
            yield client
    else:
        raise ValueError(f"scheduler must be 'local' or an address like 'tcp://host:8786', got {scheduler!r}")


@contextmanager
def _client_for(scheduler: str | Client) -> Iterator[Client]:
    """A Client given as is (left open), or `connect(scheduler)` for a string."""
    if isinstance(scheduler, str):
        with connect(scheduler) as client:
            yield client
    else:
        yield scheduler


def partition_bounds(n_rows: int, partitions: int) -> list[tuple[int, int]]:
    """`partitions` contiguous (start, stop) row ranges covering 0..n_rows, sizes differing by at most one,
    none empty (fewer ranges when there are fewer rows; one empty range for no rows).

    >>> partition_bounds(10, 3)
    [(0, 4), (4, 7), (7, 10)]
    """
    if partitions < 1:
        raise ValueError(f"partitions must be >= 1, got {partitions}")
    parts = max(1, min(partitions, n_rows))
    size, extra = divmod(n_rows, parts)
    edges = [0]
    for i in range(parts):
        edges.append(edges[-1] + size + (i < extra))
    return list(zip(edges[:-1], edges[1:], strict=True))


def _slice(rows: Any, start: int, stop: int) -> Any:
    return rows.iloc[start:stop] if hasattr(rows, "iloc") else rows[start:stop]


def _run_partition(fn: Callable[[Any, Any], Any], part: Any, shared: Any, start: int, stop: int) -> np.ndarray:
    """On a worker: fn(part, shared) as an array whose first axis has one entry per row of the partition."""
    result = np.asarray(fn(part, shared))
    if result.ndim == 0 or result.shape[0] != stop - start:
        raise ValueError(f"{getattr(fn, '__qualname__', fn)!s} returned shape {result.shape} for the partition of "
                         f"rows {start}:{stop} ({stop - start} rows): the first axis must have one entry per row")
    return result


def map_partitions(client: Client, fn: Callable[[Any, Any], Any], rows: Any, shared: Any, partitions: int, *,
                   timeout: float | None = None) -> np.ndarray:
    """Run ``fn(rows_partition, shared)`` on the cluster for contiguous row ranges; results in the rows' order.

    Parameters
    ----------
    client : distributed.Client
        Where to run (see `connect`).
    fn : callable (rows_partition, shared) -> array-like
        A module-level function importable on the workers (not a lambda or a closure over big data). It gets a
        positional slice of `rows` (``rows.iloc[start:stop]`` for pandas objects, ``rows[start:stop]`` otherwise)
        and `shared`, and returns an array whose first axis has exactly one entry per row of its slice, in the
        slice's order (shape (n,) for one LF or one label column, (n, k) for k LFs or features). It must not
        mutate either argument. The slice keeps the original index labels (handy in error messages), but results
        are matched to rows by POSITION only: never sort, filter, dedupe or reindex inside `fn` without restoring
        the slice's order, and do not rely on the index being sorted, unique or a RangeIndex.
    rows : pandas DataFrame / Series or numpy array
        The rows, in the order the result must have. Pass only the columns `fn` reads: every partition is
        pickled and sent to a worker.
    shared : any picklable object, or a distributed.Future
        Read-only lookups every partition needs (e.g. lfs.features.FeatureLookups, compiled LF specs, a feature
        matrix's columns). It is scattered once with ``broadcast=True`` (one copy per worker, not per task) and
        released at the end. To reuse it across several calls, scatter it yourself
        (``client.scatter([obj], broadcast=True)[0]``) and pass the Future: it is used as is and not released.
    partitions : int
        Number of row ranges (`partition_bounds`): about 2-4 x the workers' threads balances the load; fewer
        ranges when there are fewer rows.
    timeout : seconds, optional
        Raise TimeoutError (after cancelling the tasks) when the results are not all in by then.

    Returns
    -------
    numpy.ndarray
        The partitions' results stacked along the first axis, partition i at rows start_i:stop_i: row j of the
        result belongs to row j of `rows` (position, not index label). An error in `fn` on a worker is
        re-raised here.

    Examples
    --------
    >>> def double_pos(part, shared):                                               # doctest: +SKIP
    ...     return part["x"].to_numpy() * shared["factor"]
    >>> map_partitions(client, double_pos, df[["x"]], {"factor": 2}, partitions=4)  # doctest: +SKIP
    """
    from distributed import Future, wait

    bounds = partition_bounds(len(rows), partitions)
    owned: list = []  # what this call scattered or submitted, released at the end
    try:
        if isinstance(shared, Future):
            shared_future = shared
        else:
            shared_future = client.scatter([shared], broadcast=True, hash=False)[0]
            owned.append(shared_future)
        parts = client.scatter([_slice(rows, a, b) for a, b in bounds], hash=False)
        owned.extend(parts)
        name = getattr(fn, "__name__", "fn")
        token = uuid.uuid4().hex[:8]
        futures = [client.submit(_run_partition, fn, part, shared_future, a, b, key=f"{name}-{token}-{i}", pure=False)
                   for i, (part, (a, b)) in enumerate(zip(parts, bounds, strict=True))]
        owned.extend(futures)
        wait(futures, timeout=timeout)
        results = client.gather(futures)  # a list in the order of `futures`, i.e. of `bounds`
    finally:
        if owned:
            client.cancel(owned)
    for result, (a, b) in zip(results, bounds, strict=True):
        if result.shape[0] != b - a:  # _run_partition checked it on the worker; keep the guard next to the stack
            raise ValueError(f"partition {a}:{b} came back with {result.shape[0]} rows")
    out = np.empty((len(rows), *results[0].shape[1:]), dtype=np.result_type(*results))
    for result, (a, b) in zip(results, bounds, strict=True):
        out[a:b] = result
    return out


def _feature_partition(rows: pd.DataFrame, lookups: FeatureLookups) -> np.ndarray:
    """The worker side of compute_features_dask: compute_partition as an (n, 7) float64 array."""
    return compute_partition(rows, lookups).to_numpy(dtype=np.float64)


def compute_features_dask(data: PreparedData, split: str, *, scheduler: str | Client,
                          partitions: int | None = None, timeout: float | None = None) -> pd.DataFrame:
    """The features of `split` computed on a Dask cluster: identical to lfs.features.compute_features.

    scheduler: "local", an address "tcp://host:8786" (see `connect`), or an open Client (reused, left open).
    partitions: row ranges to cut the split into; default 2 x the cluster's worker threads. Each partition
    scores its own distinct texts with TextBlob (a text found in two partitions is scored twice: fewer, larger
    partitions dedupe more). No cache is read or written.
    """
    rows = data.splits[split]
    lookups = build_lookups(data)
    with _client_for(scheduler) as client:
        if partitions is None:
            partitions = 2 * max(1, sum(client.nthreads().values()))
        values = map_partitions(client, _feature_partition, rows[list(ROW_COLUMNS)], lookups, partitions,
                                timeout=timeout)
    return feature_frame(values, rows.index)


def features_on_dask(data: PreparedData, splits, *, scheduler: str | Client) -> dict[str, pd.DataFrame]:
    """compute_features_dask for several splits over one cluster connection."""
    with _client_for(scheduler) as client:
        return {s: compute_features_dask(data, s, scheduler=client) for s in splits}


def _label_partition(rows: pd.DataFrame, shared: tuple) -> np.ndarray:
    """The worker side of label_matrix_on_dask: features, then the LF columns, for one range of rows."""
    from .apply import LFData, label_matrix

    lookups, specs, books = shared
    features = compute_partition(rows, lookups)
    user_books = pd.Series([lookups.user_books[lookups.user_offsets[u]:lookups.user_offsets[u + 1]]
                            for u in rows["user_idx"].to_numpy()], index=rows.index, dtype=object)
    return label_matrix(specs, LFData(rows, features, books, user_books))


def label_matrix_on_dask(data: PreparedData, split: str, specs, *, scheduler: str | Client,
                         partitions: int | None = None, timeout: float | None = None) -> np.ndarray:
    """The label matrix of `specs` on `split`, each partition computing its features and its LF columns on a
    worker with the same code as the local engine: identical to `lfs.workspace.open_split(...).matrix(specs)`."""
    rows = data.splits[split]
    books = data.books[["book_idx", "title", "description"]]
    with _client_for(scheduler) as client:
        if partitions is None:
            partitions = 2 * max(1, sum(client.nthreads().values()))
        return map_partitions(client, _label_partition, rows[list(ROW_COLUMNS)],
                              (build_lookups(data), tuple(specs), books), partitions, timeout=timeout)
