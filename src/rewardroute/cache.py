"""Content-addressed caching: a key from what determines a result, and writes that never leave half a file."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import uuid
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator


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


@contextmanager
def atomic_path(final: str | Path) -> Iterator[Path]:
    """Yield a temporary sibling path to write (a file or a folder); it is renamed to `final` on success and
    removed on failure, so a killed or failed run never leaves a partial result under the final name."""
    final = Path(final)
    final.parent.mkdir(parents=True, exist_ok=True)
    tmp = final.with_name(f".{final.name}.{uuid.uuid4().hex[:8]}.tmp")
    try:
        yield tmp
        if final.exists():  # another process finished first; its result is the same
            shutil.rmtree(tmp, ignore_errors=True) if tmp.is_dir() else tmp.unlink(missing_ok=True)
        else:
            os.replace(tmp, final)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True) if tmp.is_dir() else tmp.unlink(missing_ok=True)
