"""RouteLLM's 2-model evaluation data (shared/data/routellm_gpt4_vs_mixtral): MMLU, GSM8K and MT-Bench.

MT-Bench has one score row per turn, two per query and model; the query is the first turn (the router sees
it) and its score is the mean over the two (null where a turn's score is null, for data.null_scores).
"""

from __future__ import annotations

import pandas as pd

from rewardroute.data.jsonl import load_long
from rewardroute.data.matrix import DataError


def load(queries: str, scores: str, merge_mmlu: bool = True) -> pd.DataFrame:
    long = load_long(scores, queries=queries, expert_field="model", keep=("turn",))
    keys = ["query_id", "expert"]
    turns = long["subset"].str.startswith("mt_bench")
    if turns.any():
        numeric = pd.to_numeric(long.loc[turns, "score"], errors="coerce")
        bad = numeric.isna() & long.loc[turns, "score"].notna()
        if bad.any():
            row = long[turns][bad].iloc[0]
            raise DataError(f"{row['file']}, row {row['row']}: score {row['score']!r} is not a number")
        by = [long.loc[turns, k] for k in keys]
        groups = numeric.groupby(by)
        turn = pd.to_numeric(long.loc[turns, "turn"], errors="coerce").groupby(by)
        both = turn.transform(lambda t: sorted(t.tolist()) == [1, 2])  # two rows of turn 1 are not turns 1 and 2
        if not both.all():
            row = long[turns][~both.astype(bool)].iloc[0]
            given = long[turns & (long["query_id"] == row["query_id"]) & (long["expert"] == row["expert"])]["turn"]
            raise DataError(f"{row['file']}, row {row['row']}: MT-Bench query {row['query_id']!r} of {row['expert']!r} "
                            f"has score rows of turns {given.tolist()}; it needs one of turn 1 and one of turn 2")
        long.loc[turns, "score"] = groups.transform(lambda s: s.mean(skipna=False))  # a null turn: a null mean
        long = long[~(turns & long.duplicated(keys))]
    long = long.drop(columns="turn")
    if merge_mmlu:
        long["subset"] = long["subset"].where(~long["subset"].str.startswith("mmlu_"), "mmlu")
    return long.reset_index(drop=True)
