"""Every saved version of the LF config, kept; writes atomic; a save from a stale version refused.

Layout of a store folder::

    root/
      versions/000001.toml   the config as saved (what lfs.config.dumps_config writes); never rewritten
      versions/000002.toml
      index.jsonl            one JSON object per version, oldest first: version, saved_at (UTC ISO),
                             note, key (LFConfig.key), parent (the version it was edited from), restored_from
      .lock                  flock'ed around every read-check-write

A save writes the version file, then the index, each through a temp file in the same folder (flush, fsync,
``os.replace``); the index is the commit point, so a save that fails midway, or is killed, leaves the store as it
was (an orphan version file that the index does not list is overwritten by the next save; a hidden temp file of a
killed save is removed by a later write of the same file, see pipeline.data.files.atomic_path). The stale check and
the write happen under an exclusive ``fcntl.flock`` on ``root/.lock``, so of two processes saving from the same
version exactly one wins and the other gets :class:`StaleVersionError`.

Reads are memoised per store object on the files' stat (device, inode, mtime, size): a page that asks for the
history, a version or a diff many times per run reads and parses each file once, and a save by this or another
process (a new file put in place by ``os.replace``) is seen at the next call.

>>> import tempfile
>>> store = ConfigStore.open(Path(tempfile.mkdtemp()))
>>> store.latest(), store.history()[0].note
(1, 'default config')
>>> cfg = store.load().remove("polarity_negative")
>>> store.save(cfg, base_version=1, note="drop polarity_negative").version
2
>>> store.changes(1, 2).removed
('polarity_negative',)
"""

from __future__ import annotations

import contextlib
import difflib
import fcntl
import json
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path

from lfs.config import DEFAULT_CONFIG_PATH, LFConfig, dumps_config, load_config
from pipeline.data.files import write_text_atomic

DEFAULT_STORE = Path("data/lf_configs")


class ConfigConflict(ValueError):
    """A save could not be made as asked (the store moved on, or the base version does not exist)."""


class StaleVersionError(ConfigConflict):
    """The config was edited from version ``base`` but version ``latest`` has been saved since."""

    def __init__(self, base: int, latest: int):
        super().__init__(f"version {latest} was saved since you loaded version {base}; "
                         "reload it or save your edits as a copy")
        self.base, self.latest = base, latest


@dataclass(frozen=True)
class VersionInfo:
    version: int
    saved_at: str
    note: str
    key: str
    parent: int | None = None
    restored_from: int | None = None


@dataclass(frozen=True)
class ConfigChanges:
    """LF names added, removed and changed (same name, other content) from one version to another."""

    added: tuple[str, ...]
    removed: tuple[str, ...]
    changed: tuple[str, ...]

    def __bool__(self) -> bool:
        return bool(self.added or self.removed or self.changed)

    def describe(self) -> str:
        """E.g. "added `a`; changed `b`, `c`", or "no LF changed"."""
        parts = [f"{what} {', '.join(f'`{n}`' for n in names)}" for what, names in
                 (("added", self.added), ("removed", self.removed), ("changed", self.changed)) if names]
        return "; ".join(parts) or "no LF changed"

    @classmethod
    def between(cls, a: LFConfig, b: LFConfig) -> ConfigChanges:
        """Which LFs (by name) config ``b`` adds, removes and changes relative to config ``a``."""
        old = {s.name: s for s in a}
        new = {s.name: s for s in b}
        return cls(added=tuple(n for n in new if n not in old), removed=tuple(n for n in old if n not in new),
                   changed=tuple(n for n in new if n in old and new[n] != old[n]))


def _stamp(path: Path) -> tuple[int, int, int, int] | None:
    """What identifies one content of the file at `path` (None: no file): a save replaces the file, so its inode
    changes, and an edit in place changes its mtime or size."""
    try:
        st = path.stat()
    except FileNotFoundError:
        return None
    return st.st_dev, st.st_ino, st.st_mtime_ns, st.st_size


_MEMO_ENTRIES = 256  # per store and kind: plenty for the versions a page looks at; cleared when full


class ConfigStore:
    """The versions of one LF config, in a folder. Use :meth:`open` to create or seed it."""

    def __init__(self, root: str | Path):
        self.root = Path(root)
        self._index_memo: tuple[tuple, tuple[VersionInfo, ...]] | None = None
        self._memo: dict[tuple, object] = {}  # (kind, args, stamps of the files read) -> result

    def _memoised(self, kind: str, args: tuple, paths: tuple[Path, ...], compute):
        """compute() once per content of the files at `paths` (not memoised while one of them is missing)."""
        stamps = tuple(_stamp(p) for p in paths)
        if None in stamps:
            return compute()
        key = (kind, args, stamps)
        try:
            return self._memo[key]
        except KeyError:
            pass
        value = compute()
        if len(self._memo) >= _MEMO_ENTRIES:
            self._memo.clear()
        self._memo[key] = value
        return value

    # -- paths -------------------------------------------------------------------------------------------------------
    @property
    def index_path(self) -> Path:
        return self.root / "index.jsonl"

    def version_path(self, version: int) -> Path:
        return self.root / "versions" / f"{version:06d}.toml"

    @contextlib.contextmanager
    def _locked(self) -> Iterator[None]:
        with open(self.root / ".lock", "a+b") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(lock, fcntl.LOCK_UN)

    # -- opening -----------------------------------------------------------------------------------------------------
    @classmethod
    def open(cls, root: str | Path = DEFAULT_STORE, seed_from: str | Path | LFConfig = DEFAULT_CONFIG_PATH
             ) -> ConfigStore:
        """The store at ``root``, created if needed; an empty store gets ``seed_from`` as version 1."""
        store = cls(root)
        (store.root / "versions").mkdir(parents=True, exist_ok=True)
        with store._locked():
            if not store._read_index():
                seed = seed_from if isinstance(seed_from, LFConfig) else load_config(seed_from)
                store._write_version(seed, [], note="default config", parent=None)
        return store

    # -- reading -----------------------------------------------------------------------------------------------------
    def _read_index(self) -> list[VersionInfo]:
        stamp = _stamp(self.index_path)
        memo = self._index_memo
        if stamp is not None and memo is not None and memo[0] == stamp:
            return list(memo[1])
        infos = self._parse_index()
        if stamp is not None:  # stat before the read: a newer file than the stamp is read again next time
            self._index_memo = (stamp, tuple(infos))
        return infos

    def _parse_index(self) -> list[VersionInfo]:
        try:
            text = self.index_path.read_text(encoding="utf-8")
        except FileNotFoundError:
            return []
        infos = []
        for n, line in enumerate(text.splitlines(), start=1):
            if not line.strip():
                continue
            try:
                infos.append(VersionInfo(**json.loads(line)))
            except (ValueError, TypeError) as exc:
                raise ConfigConflict(f"{self.index_path}:{n}: unreadable index entry ({exc})") from None
        return infos

    def history(self) -> list[VersionInfo]:
        """Every saved version, newest first."""
        return self._read_index()[::-1]

    def info(self, version: int | None = None) -> VersionInfo:
        infos = self._read_index()
        if not infos:
            raise ConfigConflict(f"{self.root}: no saved LF config versions (open it with ConfigStore.open)")
        if version is None:
            return infos[-1]
        for info in infos:
            if info.version == version:
                return info
        raise KeyError(f"{self.root}: no version {version}; versions are 1..{infos[-1].version}")

    def latest(self) -> int:
        return self.info().version

    def load(self, version: int | None = None) -> LFConfig:
        """The config saved as ``version`` (None: the latest)."""
        path = self.version_path(self.info(version).version)
        return self._memoised("load", (str(path),), (path,), lambda: load_config(path))  # LFConfig is immutable

    def text(self, version: int | None = None) -> str:
        """The TOML text of a version, as it is written (normalized by re-dumping, so diffs show content only)."""
        number = self.info(version).version
        path = self.version_path(number)
        return self._memoised("text", (str(path),), (path,), lambda: dumps_config(self.load(number)))

    # -- writing -----------------------------------------------------------------------------------------------------
    def _write_version(self, cfg: LFConfig, infos: list[VersionInfo], *, note: str, parent: int | None,
                       restored_from: int | None = None) -> VersionInfo:
        version = infos[-1].version + 1 if infos else 1
        info = VersionInfo(version=version, saved_at=datetime.now(UTC).isoformat(timespec="seconds"),
                           note=note.strip(), key=cfg.key, parent=parent, restored_from=restored_from)
        write_text_atomic(self.version_path(version), dumps_config(cfg))
        lines = [json.dumps(asdict(i), ensure_ascii=False) + "\n" for i in (*infos, info)]
        write_text_atomic(self.index_path, "".join(lines))
        return info

    def save(self, cfg: LFConfig, *, base_version: int, note: str = "") -> VersionInfo:
        """Save ``cfg`` (edited from ``base_version``) as a new version.

        A config identical to the latest is not saved again: the latest version's info is returned. Raises
        StaleVersionError when another version was saved after ``base_version``.
        """
        return self._save(cfg, base_version=base_version, note=note, restored_from=None)

    def restore(self, version: int, *, base_version: int, note: str = "") -> VersionInfo:
        """Save a copy of an old version as a new version (history is never rewritten)."""
        return self._save(self.load(version), base_version=base_version,
                          note=note or f"restored version {version}", restored_from=version)

    def _save(self, cfg: LFConfig, *, base_version: int, note: str, restored_from: int | None) -> VersionInfo:
        if not isinstance(cfg, LFConfig):
            raise TypeError(f"save() takes an LFConfig, got {type(cfg).__name__}")
        with self._locked():
            infos = self._read_index()
            if not infos:
                raise ConfigConflict(f"{self.root}: no saved LF config versions (open it with ConfigStore.open)")
            latest = infos[-1]
            if cfg.key == latest.key:
                return latest
            if base_version < latest.version:
                raise StaleVersionError(base_version, latest.version)
            if base_version != latest.version:
                raise ConfigConflict(f"base version {base_version} does not exist; the latest is {latest.version}")
            return self._write_version(cfg, infos, note=note, parent=base_version, restored_from=restored_from)

    # -- comparing ---------------------------------------------------------------------------------------------------
    def diff(self, a: int, b: int) -> list[str]:
        """Unified diff of the TOML texts of versions ``a`` and ``b`` (lines without newlines)."""
        paths = (self.version_path(self.info(a).version), self.version_path(self.info(b).version))
        return list(self._memoised("diff", (a, b), paths, lambda: tuple(difflib.unified_diff(
            self.text(a).splitlines(), self.text(b).splitlines(), fromfile=f"version {a}", tofile=f"version {b}",
            lineterm=""))))

    def changes(self, a: int, b: int) -> ConfigChanges:
        """Which LFs (by name) version ``b`` adds, removes and changes relative to version ``a``."""
        paths = (self.version_path(self.info(a).version), self.version_path(self.info(b).version))
        return self._memoised("changes", (a, b), paths, lambda: ConfigChanges.between(self.load(a), self.load(b)))
