"""The outputs of the upstream stages (generate, score, judge, tag), stored under `paths.artifact_dir` as

    <stage>/<key>/data.parquet    the rows
    <stage>/<key>/meta.json       the config subtree that determined them, library versions, rows, seconds

where `key` hashes that config subtree: a rerun or a sweep with the same subtree reuses the artifact, a changed
subtree makes a new one. An artifact appears only complete (written under a temporary name, then renamed).
Work in progress of a resumable stage sits in `<stage>/.<key>.parts/` until it is merged.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from rewardroute.cache import atomic_path, content_hash

LIBRARIES = ("torch", "transformers", "lightning", "datasets", "rewardroute")


def versions() -> dict[str, str]:
    from importlib.metadata import PackageNotFoundError, version

    out = {}
    for name in LIBRARIES:
        try:
            out[name] = version(name)
        except PackageNotFoundError:
            pass
    return out


@dataclass(frozen=True)
class Artifact:
    stage: str
    spec: dict  # the config subtree (and upstream keys) that determines the rows
    root: str | Path

    @property
    def key(self) -> str:
        return content_hash(self.stage, self.spec)

    @property
    def path(self) -> Path:
        return Path(self.root) / self.stage / self.key

    @property
    def parts(self) -> Path:
        return Path(self.root) / self.stage / f".{self.key}.parts"

    @contextmanager
    def claimed(self, distributed: bool = False) -> Iterator[None]:
        """Hold the artifact's lock while checking and building it, so that parallel jobs (joblib) build it once
        and none reads another's work in progress. Not under DDP: its ranks build an artifact together."""
        if distributed:
            yield
            return
        from filelock import FileLock

        lock = Path(self.root) / self.stage / f".{self.key}.lock"
        lock.parent.mkdir(parents=True, exist_ok=True)
        with FileLock(str(lock)):
            yield

    def exists(self) -> bool:
        return (self.path / "meta.json").is_file()

    def load(self) -> pd.DataFrame:
        return pd.read_parquet(self.path / "data.parquet")

    def meta(self) -> dict:
        return json.loads((self.path / "meta.json").read_text())

    def save(self, rows: pd.DataFrame, started: float, files: dict[str, Path] | None = None, **extra) -> pd.DataFrame:
        """Write rows, metadata and any `files` ({name in the artifact: file to copy}) atomically; `extra` goes
        into the metadata (counts, warnings)."""
        import shutil

        meta = {"stage": self.stage, "key": self.key, "spec": self.spec, "rows": len(rows), "versions": versions(),
                "created": time.strftime("%Y-%m-%d %H:%M:%S"), "seconds": round(time.time() - started, 2), **extra}
        with atomic_path(self.path) as tmp:
            tmp.mkdir()
            rows.to_parquet(tmp / "data.parquet", index=False)
            for name, source in (files or {}).items():
                shutil.copy(source, tmp / name)
            (tmp / "meta.json").write_text(json.dumps(meta, indent=2, default=str) + "\n")
        return rows


def list_artifacts(root: str | Path) -> list[dict]:
    """Every complete artifact under root, newest first."""
    metas = [json.loads(p.read_text()) for p in Path(root).glob("*/*/meta.json")]
    return sorted(metas, key=lambda m: m["created"], reverse=True)
