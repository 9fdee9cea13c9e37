"""The versioned LF config store: versions kept, stale saves refused, failed writes lose nothing, and of two
processes saving from the same version exactly one wins."""

from __future__ import annotations

import json
import multiprocessing
import os
from pathlib import Path

import pytest

from lfs import store as store_module
from lfs.config import LFConfig, load_default
from lfs.spec import ThresholdLF
from lfs.store import ConfigConflict, ConfigStore, StaleVersionError


def _tweak(cfg: LFConfig, value: float) -> LFConfig:
    """The config with polarity_positive's threshold set to `value`."""
    return cfg.replace("polarity_positive", ThresholdLF("polarity_positive", feature="polarity", op=">",
                                                        value=value, label=1))


def _snapshot(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


@pytest.fixture
def store(tmp_path) -> ConfigStore:
    return ConfigStore.open(tmp_path / "lf_configs")


def test_open_seeds_version_one_with_the_default(store):
    assert store.latest() == 1
    assert store.load() == load_default() == store.load(1)
    (info,) = store.history()
    assert (info.version, info.note, info.parent, info.key) == (1, "default config", None, load_default().key)
    assert info.saved_at.endswith("+00:00")
    assert ConfigStore.open(store.root).latest() == 1  # opening again does not seed again


def test_save_makes_a_new_version_and_keeps_the_old(store):
    info = store.save(_tweak(store.load(), 0.4), base_version=1, note="stricter polarity")
    assert (info.version, info.parent, info.note) == (2, 1, "stricter polarity")
    assert store.latest() == 2
    assert store.load().get("polarity_positive").value == 0.4
    assert store.load(1) == load_default()
    third = store.save(store.load().remove("polarity_negative"), base_version=2, note="no negatives")
    assert [(i.version, i.note) for i in store.history()] == [(3, "no negatives"), (2, "stricter polarity"),
                                                              (1, "default config")]
    assert store.version_path(3).is_file() and third.key == store.load(3).key


def test_stale_save_is_refused_and_the_newer_version_untouched(store):
    store.save(_tweak(store.load(1), 0.4), base_version=1, note="someone else")
    before = _snapshot(store.root)
    with pytest.raises(StaleVersionError) as err:
        store.save(_tweak(store.load(1), 0.5), base_version=1, note="mine")
    assert isinstance(err.value, ConfigConflict) and isinstance(err.value, ValueError)
    assert err.value.latest == 2 and err.value.base == 1
    assert str(err.value) == "version 2 was saved since you loaded version 1; reload it or save your edits as a copy"
    assert _snapshot(store.root) == before
    assert store.load().get("polarity_positive").value == 0.4
    with pytest.raises(ConfigConflict, match="base version 7 does not exist"):
        store.save(_tweak(store.load(), 0.5), base_version=7)


def test_identical_save_is_a_no_op(store):
    before = _snapshot(store.root)
    assert store.save(load_default(), base_version=1, note="nothing changed") == store.history()[0]
    assert _snapshot(store.root) == before


def test_restore_saves_a_copy_as_a_new_version(store):
    store.save(_tweak(store.load(), 0.4), base_version=1)
    store.save(_tweak(store.load(), 0.6), base_version=2)
    info = store.restore(1, base_version=3)
    assert (info.version, info.parent, info.restored_from, info.note) == (4, 3, 1, "restored version 1")
    assert store.load(4) == store.load(1)
    assert [i.version for i in store.history()] == [4, 3, 2, 1]
    with pytest.raises(StaleVersionError):
        store.restore(2, base_version=3)


def test_diff_and_changes(store):
    store.save(_tweak(store.load(), 0.4).remove("polarity_negative"), base_version=1)
    diff = store.diff(1, 2)
    assert diff[:2] == ["--- version 1", "+++ version 2"]
    assert "-value = 0.3" in diff and "+value = 0.4" in diff
    assert '-name = "polarity_negative"' in diff
    changes = store.changes(1, 2)
    assert (changes.added, changes.removed, changes.changed) == ((), ("polarity_negative",), ("polarity_positive",))
    assert not store.changes(2, 2) and store.diff(2, 2) == []


@pytest.mark.parametrize("fail_on_call", [1, 2], ids=["version file", "index"])
def test_failed_write_loses_nothing(store, monkeypatch, fail_on_call):
    store.save(_tweak(store.load(), 0.4), base_version=1, note="kept")
    index_before = store.index_path.read_bytes()
    versions_before = {p.name: p.read_bytes() for p in (store.root / "versions").iterdir()}
    calls = []
    real_replace = os.replace

    def flaky_replace(src, dst):
        calls.append(dst)
        if len(calls) == fail_on_call:
            raise OSError("disk full")
        return real_replace(src, dst)

    monkeypatch.setattr(os, "replace", flaky_replace)  # the store writes through pipeline.data.files
    with pytest.raises(OSError, match="disk full"):
        store.save(_tweak(store.load(), 0.5), base_version=2, note="lost")
    monkeypatch.undo()

    assert store.index_path.read_bytes() == index_before
    assert {p.name: p.read_bytes() for p in (store.root / "versions").iterdir()
            if p.name in versions_before} == versions_before
    assert not [p for p in store.root.rglob("*.tmp")]
    assert store.latest() == 2 and store.load().get("polarity_positive").value == 0.4
    info = store.save(_tweak(store.load(), 0.5), base_version=2, note="retry")  # the store still works
    assert info.version == 3 and store.load(3).get("polarity_positive").value == 0.5


def test_unreadable_index_names_file_and_line(store):
    store.index_path.write_text(store.index_path.read_text() + "{not json\n")
    with pytest.raises(ConfigConflict, match=r"index.jsonl:2: unreadable index entry"):
        store.history()


def _save_from_version_one(root: str, value: float, barrier, results) -> None:
    """In a child process: save an edit made from version 1, slowly, so an unguarded store would let both pass."""
    real_write = store_module.write_text_atomic

    def slow_write(path, text):
        import time
        time.sleep(0.2)
        real_write(path, text)

    store_module.write_text_atomic = slow_write
    store = ConfigStore(root)
    cfg = _tweak(store.load(1), value)
    barrier.wait()
    try:
        results.put(("saved", store.save(cfg, base_version=1, note=f"value {value}").version))
    except StaleVersionError as exc:
        results.put(("stale", exc.latest))


def test_two_processes_saving_from_the_same_version_exactly_one_wins(store):
    ctx = multiprocessing.get_context("spawn")
    barrier, results = ctx.Barrier(2), ctx.Queue()
    procs = [ctx.Process(target=_save_from_version_one, args=(str(store.root), v, barrier, results))
             for v in (0.4, 0.5)]
    for p in procs:
        p.start()
    outcomes = sorted(results.get(timeout=60) for _ in procs)
    for p in procs:
        p.join(timeout=60)
        assert p.exitcode == 0
    assert outcomes == [("saved", 2), ("stale", 2)]
    assert store.latest() == 2
    lines = store.index_path.read_text().splitlines()
    assert [json.loads(line)["version"] for line in lines] == [1, 2]


def test_changes_describe_themselves():
    from lfs.store import ConfigChanges

    assert ConfigChanges((), (), ()).describe() == "no LF changed"
    assert ConfigChanges(("a",), (), ("b", "c")).describe() == "added `a`; changed `b`, `c`"
