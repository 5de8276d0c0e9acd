"""RouteLLM's 2-model evaluation data (shared/data/routellm_gpt4_vs_mixtral): MMLU, GSM8K and MT-Bench.

MT-Bench has one score row per turn, two per query and model; the query is the first turn (the router sees
it) and its score is the mean over the two (null where a turn's score is null, for data.null_scores).
"""

from __future__ import annotations

import pandas as pd

from rewardroute.data.jsonl import load_long
from rewardroute.data.matrix import DataError


def load(queries: str, scores: str, merge_mmlu: bool = True) -> pd.DataFrame:
    long = load_long(scores, queries=queries, expert_field="model")
    keys = ["query_id", "expert"]
    turns = long["subset"].str.startswith("mt_bench")
    if turns.any():
        numeric = pd.to_numeric(long.loc[turns, "score"], errors="coerce")
        bad = numeric.isna() & long.loc[turns, "score"].notna()
        if bad.any():
            row = long[turns][bad].iloc[0]
            raise DataError(f"{row['file']}, row {row['row']}: score {row['score']!r} is not a number")
        groups = numeric.groupby([long.loc[turns, k] for k in keys])
        count = groups.transform("size")
        if (count != 2).any():
            row = long[turns][count != 2].iloc[0]
            raise DataError(f"{row['file']}, row {row['row']}: MT-Bench query {row['query_id']!r} of {row['expert']!r} "
                            f"has {count[count != 2].iloc[0]} score rows; it needs one per turn, two in all")
        long.loc[turns, "score"] = groups.transform(lambda s: s.mean(skipna=False))  # a null turn: a null mean
        long = long[~(turns & long.duplicated(keys))]
    if merge_mmlu:
        long["subset"] = long["subset"].where(~long["subset"].str.startswith("mmlu_"), "mmlu")
    return long.reset_index(drop=True)
