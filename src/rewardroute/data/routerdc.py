"""RouterDC's 7-model score matrix (shared/data/routerdc_7llm): wide rows, with the accuracy transform.

Accuracy (DESIGN.md section 5): on the multiple-choice tasks a query counts as correct when its score > 0
(the score is the probability of the gold option if the argmax was right, else 0); otherwise the raw score.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from rewardroute.data.jsonl import load_wide

MULTIPLE_CHOICE_KINDS = ("mc_prob_correct_if_argmax_correct_else0",)


def load(path: str, tags_field: str | None = "cluster_id") -> pd.DataFrame:
    long = load_wide(path, tags_field=tags_field)
    score = pd.to_numeric(long["score"], errors="coerce")
    mc = long["score_kind"].isin(MULTIPLE_CHOICE_KINDS)
    long["metric"] = np.where(mc, (score > 0).astype(float), score)
    long.loc[score.isna(), "metric"] = np.nan  # a null score stays null, for data.null_scores
    return long.drop(columns="score_kind")
