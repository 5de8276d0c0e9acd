"""AlpacaEval's judge: the model's answer against the reference answer (text-davinci-003's, in AlpacaEval 1),
one pairwise verdict per order asked. The score is the model's win: 1 (its answer is better), 0 (the
reference is), 0.5 (a tie); with `order: both`, the mean over the two orders.

Judges favour one position, so the order matters and is a setting:
- random (default): per query, a coin seeded by (seed, query_id) decides which answer is "A"; the same for every
  model on that query, so models are compared on equal terms, and the same in every run;
- both: both orders, averaged (twice the judge calls; the position bias cancels);
- model_first / reference_first: fixed.
The prompt file has `system` and `user` with {question}, {answer_a}, {answer_b}; the verdict is [[A]], [[B]] or
[[C]] (a tie).
"""

from __future__ import annotations

import random
import re
from dataclasses import dataclass

from rewardroute.data.matrix import DataError, where_query
from rewardroute.evaluators.judge import Ask, Judge, fill

ORDERS = ("random", "both", "model_first", "reference_first")
VERDICT = re.compile(r"\[\[\s*([ABC])\s*\]\]")


@dataclass
class Pairwise(Judge):
    order: str = "random"
    seed: int = 0

    TEMPLATES = ("system", "user")

    def __post_init__(self):
        if self.order not in ORDERS:
            raise ValueError(f"order must be one of {ORDERS}, got {self.order!r}")

    def model_first(self, query_id: str) -> list[bool]:
        if self.order == "random":
            return [random.Random(f"{self.seed}:{query_id}").random() < 0.5]
        return {"both": [True, False], "model_first": [True], "reference_first": [False]}[self.order]

    def asks(self, row: dict, answer: str) -> list[Ask]:
        reference = row.get("reference")
        if not isinstance(reference, str):
            raise DataError(f"{where_query(row)}: the pairwise judge needs a reference answer "
                            "(a `reference` column: benchmark.queries maps it)")
        t = self.templates
        return [(t["system"], fill(t["user"], question=row["query"], answer_a=answer if first else reference,
                                   answer_b=reference if first else answer))
                for first in self.model_first(row["query_id"])]

    def rate(self, row: dict, answer: str, replies: list[str | None]) -> float | None:
        wins = []
        for first, reply in zip(self.model_first(row["query_id"]), replies):
            found = VERDICT.findall(reply or "")
            if not found:
                return None
            wins.append(0.5 if found[-1] == "C" else float((found[-1] == "A") == first))
        return sum(wins) / len(wins)
