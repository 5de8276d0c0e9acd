"""Content-addressed caching: a key from what determines a result, and writes that never leave half a file."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


def content_hash(*parts) -> str:
    """A short stable hash of JSON-serialisable parts (lists of strings are hashed item by item)."""
    h = hashlib.blake2b(digest_size=10)
    for part in parts:
        if isinstance(part, (list, tuple)) and all(isinstance(p, str) for p in part):
            for p in part:
                h.update(p.encode())
                h.update(b"\x00")
        else:
            h.update(json.dumps(part, sort_keys=True, default=str).encode())
        h.update(b"\x01")
    return h.hexdigest()


def file_hash(path: str | Path) -> str:
    """A short hash of a file's bytes: recorded answers or scores edited in place are not taken from the cache."""
    h = hashlib.blake2b(digest_size=10)
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def model_version(path_or_id: str, revision: str | None = None) -> dict:
    """What tells two versions of a model apart, for cache keys. A local folder: its files' names, sizes and
    modification times (a model saved again into the same folder is new). A hub id: the commit of the snapshot
    the hub cache holds for it, the one that loads offline (none before its first download: that run's results
    are keyed without it, and the next run's anew)."""
    folder = Path(path_or_id)
    if folder.is_dir():
        return {"files": sorted((f.name, f.stat().st_size, f.stat().st_mtime_ns) for f in folder.iterdir() if f.is_file())}
    from huggingface_hub import try_to_load_from_cache

    try:
        config = try_to_load_from_cache(path_or_id, "config.json", revision=revision)
    except ValueError:  # not a repo id: loading it will say what is wrong with it
        config = None
    return {"snapshot": Path(config).parent.name if isinstance(config, str) else None}


def recorded_spec(recorded) -> dict:
    """The cache spec of a dataclass reading a recorded file (`path`): its fields, and the file by content, not
    path: an edited file is read again, a moved one is not."""
    from dataclasses import asdict

    fields = {k: v for k, v in asdict(recorded).items() if k != "path"}
    return {"kind": "Recorded", **fields, "content": file_hash(recorded.path)}


@contextmanager
def atomic_path(final: str | Path, replace: bool = False) -> Iterator[Path]:
    """Yield a temporary sibling path to write (a file or a folder); it is renamed to `final` on success and
    removed on failure, so a killed or failed run never leaves a partial result under the final name.

    Where `final` already exists: a cached result (replace=False) is kept, since another process that finished
    first wrote the same content; a run's own output (replace=True: results, an exported model) is replaced."""
    final = Path(final)
    final.parent.mkdir(parents=True, exist_ok=True)
    tmp = final.with_name(f".{final.name}.{uuid.uuid4().hex[:8]}.tmp")
    try:
        yield tmp
        if final.exists() and not replace:
            remove(tmp)
        else:
            if final.is_dir():  # os.replace cannot replace a folder that holds files
                remove(final)
            os.replace(tmp, final)
    finally:
        remove(tmp)


def remove(path: Path) -> None:
    shutil.rmtree(path, ignore_errors=True) if path.is_dir() else path.unlink(missing_ok=True)


def write_files(out_dir, writers: dict) -> dict:
    """Write report files atomically (each replaces an older one): {kind: (file name, writer(path))} -> {kind: path}."""
    paths = {}
    for kind, (name, write) in writers.items():
        paths[kind] = Path(out_dir) / name
        with atomic_path(paths[kind], replace=True) as tmp:
            write(tmp)
    return paths
