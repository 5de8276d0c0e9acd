"""`task=export`: write the configured response matrix in the documented long jsonl format (a converter from
any supported source, e.g. RouterDC's wide file, to the format `rewardroute.data.jsonl.load_long` reads)."""

from __future__ import annotations

import json
import logging
from pathlib import Path

from omegaconf import DictConfig

from rewardroute.cache import atomic_path

log = logging.getLogger(__name__)


def export(cfg: DictConfig) -> Path:
    from rewardroute.data.load import load_matrix

    long = load_matrix(cfg).to_long()
    path = Path(cfg.paths.output_dir) / "responses.jsonl"
    with atomic_path(path, replace=True) as tmp, open(tmp, "w", encoding="utf-8") as f:
        f.writelines(json.dumps(row, ensure_ascii=False) + "\n" for row in long.to_dict(orient="records"))
    log.info("%d rows (%d queries x %d experts) -> %s", len(long), long["query_id"].nunique(), long["expert"].nunique(), path)
    return path
