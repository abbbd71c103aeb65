"""Per-batch Parquet checkpoints of a power run: an interrupted run resumes where it stopped.

A checkpoint folder holds ``run.json`` (what the run is: the design, seed, alpha; a rerun with other
settings is refused) and one ``batch-<n>-<hypothesis>-<first>-<last>.parquet`` per finished batch, each
written to a temporary name and renamed, so a file is either complete or absent. A resumed run reads the
trials already done and plans only the missing ones; since each trial has its own random stream, the
final table is the same whatever was interrupted, and whatever the batch size of either run.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pandas as pd

from painstudy.errors import PainstudyError
from painstudy.io import display_path

__all__ = ["Checkpoint", "CheckpointError", "remove_checkpoint"]

MARK = "painstudy power checkpoint"


class CheckpointError(PainstudyError):
    """A checkpoint folder that belongs to another run or to something else."""


class Checkpoint:
    """The checkpoint folder of one run (``key``: the run's settings as JSON-ready values)."""

    def __init__(self, folder: str | Path, key: dict):
        self.folder = Path(folder)
        self.key = json.loads(json.dumps(key))
        meta = self.folder / "run.json"
        if self.folder.exists():
            if not self.folder.is_dir():
                raise CheckpointError(f"checkpoint {display_path(self.folder)} is a file, not a folder")
            if meta.exists():
                doc = json.loads(meta.read_text(encoding="utf-8"))
                if doc.get("written_by") != MARK:
                    raise CheckpointError(f"checkpoint {display_path(meta)} was not written by painstudy power")
                if doc.get("key") != self.key:
                    differ = sorted(
                        k for k in set(doc.get("key", {})) | set(self.key) if doc["key"].get(k) != self.key.get(k)
                    )
                    raise CheckpointError(
                        f"checkpoint {display_path(self.folder)} belongs to another run (it differs in "
                        f"{', '.join(differ)}); use another --checkpoint folder or remove it"
                    )
            elif any(self.folder.iterdir()):
                raise CheckpointError(
                    f"checkpoint {display_path(self.folder)} is a folder painstudy did not write (not empty, "
                    "no run.json); choose another"
                )
        self.folder.mkdir(parents=True, exist_ok=True)
        if not meta.exists():
            tmp = meta.with_suffix(".json.tmp")
            tmp.write_text(json.dumps({"written_by": MARK, "key": self.key}, indent=1), encoding="utf-8")
            os.replace(tmp, meta)

    def batches(self) -> list[Path]:
        """The finished batch files."""
        return sorted(self.folder.glob("batch-*.parquet"))

    def done(self) -> pd.DataFrame | None:
        """Every trial already in the checkpoint (None when there is none)."""
        files = self.batches()
        if not files:
            return None
        return pd.concat([pd.read_parquet(f) for f in files], ignore_index=True)

    def write(self, frame: pd.DataFrame, n_per_arm: int, hypothesis: str, start: int, stop: int) -> None:
        """Write one finished batch (atomically)."""
        path = self.folder / f"batch-{n_per_arm}-{hypothesis}-{start:07d}-{stop - 1:07d}.parquet"
        tmp = path.with_name(path.name + ".tmp")
        frame.to_parquet(tmp, index=False)
        os.replace(tmp, path)

    def remove(self) -> None:
        """Remove the files this run wrote (the batches and run.json), then the folder if it is empty."""
        remove_checkpoint(self.folder)


def remove_checkpoint(folder: str | Path) -> None:
    """Remove a finished run's checkpoint: its batch files and run.json (only in a folder whose run.json
    painstudy wrote), then the folder if nothing else is left."""
    folder = Path(folder)
    meta = folder / "run.json"
    try:
        mine = json.loads(meta.read_text(encoding="utf-8")).get("written_by") == MARK
    except (OSError, ValueError, AttributeError):
        return
    if not mine:
        return
    for f in [*folder.glob("batch-*.parquet"), *folder.glob("batch-*.parquet.tmp")]:
        f.unlink(missing_ok=True)
    meta.unlink(missing_ok=True)
    try:
        folder.rmdir()
    except OSError:
        pass
