"""A run's per-query router probabilities, `predictions.parquet` in the run folder: one row per routed query
(`query_id`, `split` val or test, one column per expert). Written by every router run, so that ensembles and
later analyses and `task=evaluate` reuse what the run computed (routing 12,000 queries through a fine-tuned
encoder costs minutes on a CPU) instead of predicting again.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

FILE = "predictions.parquet"


def write_predictions(out_dir: str | Path, experts: list[str], splits: dict[str, tuple[list, np.ndarray]]) -> Path:
    """`splits`: {split: (query ids, [queries, experts] probabilities)}, written atomically."""
    import pandas as pd

    from rewardroute.cache import write_files

    frames = [pd.DataFrame(probs, columns=experts).assign(query_id=list(ids), split=split)
              for split, (ids, probs) in splits.items()]
    rows = pd.concat(frames, ignore_index=True)[["query_id", "split", *experts]]
    return write_files(out_dir, {"predictions": (FILE, lambda p: rows.to_parquet(p, index=False))})["predictions"]


def read_predictions(run: str | Path, experts: list[str], splits: dict[str, list]) -> dict[str, np.ndarray] | None:
    """The run's probabilities for `splits` ({split: query ids}), in that order; None where the run has no
    predictions file or it does not hold every one of these queries with these experts (then predict again)."""
    import pandas as pd

    path = Path(run) / FILE
    if not path.is_file():
        return None
    rows = pd.read_parquet(path)
    if list(rows.columns[2:]) != list(experts):
        return None
    out = {}
    for split, ids in splits.items():
        part = rows[rows["split"] == split].set_index("query_id")
        if not part.index.is_unique or not set(ids) <= set(part.index):
            return None
        out[split] = part.loc[list(ids), experts].to_numpy(np.float64)  # an ensemble's ties need float64
    return out


def routed_with(ckpt: str | Path, matrix) -> dict[str, np.ndarray] | None:
    """The probabilities that the run of checkpoint `ckpt` (<run>/checkpoints/<name>) routed with it, for the
    matrix's test and validation queries ({split: [queries, experts]}); None where the run routed with another
    checkpoint or its file lacks these queries (then predict again)."""
    import json

    run = Path(ckpt).parent.parent
    results = run / "results.json"
    if not results.is_file() or json.loads(results.read_text())["selection"]["checkpoint"] != Path(ckpt).name:
        return None
    wanted = {s: matrix.queries["query_id"][matrix.mask(s)].tolist() for s in ("test", "val") if matrix.mask(s).any()}
    return read_predictions(run, list(matrix.experts), wanted)
