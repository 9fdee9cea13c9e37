"""lfs.dask_engine on a LocalCluster of two worker processes: features identical to the local engine, and
map_partitions puts results back by position. One cluster per module (about 5 s with its worker processes),
always closed; every wait is bounded."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from lfs import features as F
from lfs.dask_engine import compute_features_dask, connect, map_partitions, partition_bounds
from pipeline.data.dataset import load_prepared
from pipeline.data.prepare import SPLITS

TIMEOUT = 120  # seconds: a broken cluster fails the test instead of hanging it


@pytest.fixture(scope="module")
def client():
    with connect("local") as client:  # the context manager closes the Client and the LocalCluster, even on error
        yield client


@pytest.fixture(scope="module")
def tiny(tiny_processed):
    """The session's tiny prepared data (read only: no cache is written here)."""
    return load_prepared(tiny_processed)


def test_local_cluster_has_two_single_threaded_worker_processes(client):
    assert list(client.nthreads().values()) == [1, 1]
    assert client.cluster is not None


@pytest.mark.parametrize("partitions", [None, 1, 7])
def test_features_equal_the_local_engine(client, tiny, partitions):
    for split in SPLITS:
        got = compute_features_dask(tiny, split, scheduler=client, partitions=partitions, timeout=TIMEOUT)
        pd.testing.assert_frame_equal(got, F.compute_features(tiny, split, processes=1), check_exact=True)


@pytest.mark.parametrize("partitions", [None, 5])
def test_label_matrix_equals_the_local_engine(client, tiny, partitions):
    from lfs.config import load_default
    from lfs.dask_engine import label_matrix_on_dask
    from lfs.spec import KeywordLF, KeywordRule, PythonLF
    from lfs.workspace import open_split

    specs = (*load_default().enabled(),
             KeywordLF("title_word", field="title", match="word", rules=(KeywordRule(("crown", "star"), 1),)),
             PythonLF("sequel", function="lfs.custom.examples:wants_the_sequel"))
    for split in ("train", "dev"):
        local = open_split(tiny, split, features=F.compute_features(tiny, split, processes=1)).matrix(specs)
        got = label_matrix_on_dask(tiny, split, specs, scheduler=client, partitions=partitions, timeout=TIMEOUT)
        np.testing.assert_array_equal(got, local)
        assert got.dtype == np.int8


def test_connect_by_address(client, tiny):
    address = client.scheduler.address
    assert address.startswith("tcp://")
    with connect(address) as remote:
        assert remote.cluster is None
        got = compute_features_dask(tiny, "dev", scheduler=remote, partitions=2, timeout=TIMEOUT)
    pd.testing.assert_frame_equal(got, F.compute_features(tiny, "dev", processes=1), check_exact=True)
    assert client.status == "running"  # the cluster outlives a client connected by address


def test_bad_scheduler_is_refused():
    with pytest.raises(ValueError, match="tcp://host:8786"):
        with connect("localhost"):
            pass


# map_partitions: the functions run on workers, so they live at module level (importable there)


def _positions_times(rows: pd.DataFrame, shared: dict) -> np.ndarray:
    return rows["pos"].to_numpy() * shared["factor"]


def _two_columns(rows: np.ndarray, shared) -> np.ndarray:
    return np.stack([rows, -rows], axis=1)


def _one_too_many(rows: pd.DataFrame, shared) -> np.ndarray:
    return np.zeros(len(rows) + 1)


def test_map_partitions_keeps_positional_order(client):
    rng = np.random.default_rng(0)
    n = 101
    rows = pd.DataFrame({"pos": np.arange(n)}, index=rng.permutation(n) * 3)  # shuffled, non-contiguous labels
    for partitions in (1, 4, 13, 500):
        got = map_partitions(client, _positions_times, rows, {"factor": 2}, partitions, timeout=TIMEOUT)
        np.testing.assert_array_equal(got, np.arange(n) * 2)


def test_map_partitions_on_arrays_with_2d_results_and_a_shared_future(client):
    values = np.arange(10, dtype=np.float64)
    shared = client.scatter([None], broadcast=True)[0]
    got = map_partitions(client, _two_columns, values, shared, 3, timeout=TIMEOUT)
    np.testing.assert_array_equal(got, np.stack([values, -values], axis=1))
    assert shared.status == "finished"  # a Future passed in is left to its owner


def test_map_partitions_with_no_rows(client):
    rows = pd.DataFrame({"pos": np.zeros(0, dtype=np.int64)})
    got = map_partitions(client, _positions_times, rows, {"factor": 2}, 4, timeout=TIMEOUT)
    assert got.shape == (0,)


def test_map_partitions_checks_the_length_of_each_result(client):
    rows = pd.DataFrame({"pos": np.arange(6)})
    with pytest.raises(ValueError, match="one entry per row"):
        map_partitions(client, _one_too_many, rows, None, 2, timeout=TIMEOUT)


def test_partition_bounds():
    assert partition_bounds(10, 3) == [(0, 4), (4, 7), (7, 10)]
    assert partition_bounds(2, 5) == [(0, 1), (1, 2)]
    assert partition_bounds(0, 5) == [(0, 0)]
    with pytest.raises(ValueError):
        partition_bounds(5, 0)
