"""Make sure a data folder holds prepared data: what `make run` does before it opens the workbench.

`DATA/raw` holds the raw files. Real files there are always used as they are and never overwritten. When the
folder has no raw files, synthetic ones are generated; when it holds synthetic files of another scale or seed,
or of an older generator (as GENERATED.json records), they are regenerated, but only when every raw file there
is still the one the generator wrote (GENERATED.json lists its sha256): otherwise ensure_data stops with
RawDataError naming the file. Then `prepare` writes `DATA/processed` (or reuses it).
"""

from __future__ import annotations

import logging
from pathlib import Path

from pipeline.data import rawformat
from pipeline.data.files import MARKER_FILE, foreign_files, read_marker
from pipeline.data.generate import GENERATOR_VERSION, generate
from pipeline.data.prepare import prepare
from pipeline.data.raw import RawDataError

log = logging.getLogger(__name__)


def ensure_data(data_dir: str | Path, *, scale: str = "seed", seed: int = 0, progress: bool = False) -> dict:
    """Generate (when needed) and prepare the data under `data_dir`; return the prepared manifest."""
    data = Path(data_dir)
    raw = data / "raw"
    present = [name for name in rawformat.RAW_FILES if (raw / name).exists()]
    marker = read_marker(raw)
    if not present:
        log.info("no raw files in %s: generating %s-scale synthetic data (seed %d)", raw, scale, seed)
        generate(raw, scale, seed, progress=progress)
    elif marker is not None and (marker.get("scale"), marker.get("seed"), marker.get("version")) != (
            scale, seed, GENERATOR_VERSION):
        foreign = foreign_files(raw, rawformat.GENERATED_FILES)
        if foreign:
            old = f"--scale {marker.get('scale')} --seed {marker.get('seed')}"
            raise RawDataError(
                f"{raw}: {MARKER_FILE} records synthetic data of {old}, but not every raw file there is the "
                f"generator's: {'; '.join(foreign)}. Regenerating with --scale {scale} --seed {seed} would "
                f"overwrite it: use another --data folder, move the file(s) away, or ask for {old} to prepare the "
                "folder as it is")
        log.info("%s holds synthetic %s data (seed %s, generator version %s): regenerating at %s scale (seed %d)",
                 raw, marker.get("scale"), marker.get("seed"), marker.get("version"), scale, seed)
        generate(raw, scale, seed, progress=progress)
    return prepare(raw, data / "processed", progress=progress)
