"""The base of the LLM judges: prompt templates from a file, a backend that answers (system, user) prompts, and
replies turned into scores, where a reply without a rating gives None (counted and logged, never guessed).

A judge asks one or more prompts per query (`asks`), all queries' prompts go to the backend in one call (so a
local model batches them), and `rate` turns one query's replies into its score. The prompt file is YAML with
the judge's templates; `{name}` placeholders are filled in one pass, so braces inside answers are safe. The
prompt file's templates, not its path, are part of the judge's spec: editing a prompt changes the artifact key.

Backends (evaluators/local_lm.py, evaluators/endpoint.py) have `spec()` and
`complete([(system, user), ...]) -> [reply or None]` (None: the prompt did not fit the judge's context).
"""

from __future__ import annotations

import logging
import math
import re
from dataclasses import dataclass, field, fields
from functools import cached_property
from pathlib import Path
from typing import Any, ClassVar

import pandas as pd

from rewardroute.data.matrix import DataError

log = logging.getLogger(__name__)
Ask = tuple[str, str]  # (system, user)
PLACEHOLDER = re.compile(r"\{(\w+)\}")


def fill(template: str, **values: str) -> str:
    return PLACEHOLDER.sub(lambda m: str(values[m.group(1)]) if m.group(1) in values else m.group(0), template)


def strings(value) -> list[str]:
    """A string as a one-item list; a list, tuple or array (a parquet list column) as a list of strings."""
    if value is None or isinstance(value, float) and math.isnan(value):  # a missing cell
        return []
    return [value] if isinstance(value, str) else [str(v) for v in value]


def rating(reply: str | None, low: float, high: float, label: str = "") -> float | None:
    """The last `[[x]]` in the reply (after `label` where one is given), if it lies in [low, high]."""
    if reply is None:
        return None
    found = re.findall(rf"{re.escape(label)}\W{{0,6}}\[\[\s*(\d+(?:\.\d+)?)\s*\]\]", reply, re.IGNORECASE)
    if not found:
        return None
    value = float(found[-1])
    return value if low <= value <= high else None


@dataclass
class Judge:
    prompt: str  # a YAML file of templates (conf/judge_prompts/)
    backend: Any  # a LocalLM or an Endpoint
    counts: dict = field(default_factory=dict, init=False, repr=False)  # of the last evaluate(), for logs and tests

    TEMPLATES: ClassVar[tuple[str, ...]] = ()  # the keys the prompt file must have

    def spec(self) -> dict:
        from rewardroute.cache import content_hash

        own = {f.name: getattr(self, f.name) for f in fields(self) if f.init and f.name not in ("prompt", "backend")}
        return {"kind": type(self).__name__, "prompt": content_hash(self.templates), "backend": self.backend.spec(),
                **own}

    @cached_property
    def templates(self) -> dict:
        import yaml

        path = Path(self.prompt)
        if not path.is_file():
            raise DataError(f"{path}: no such judge prompt file")
        templates = yaml.safe_load(path.read_text())
        missing = [k for k in self.TEMPLATES if not isinstance(templates, dict) or k not in templates]
        if missing:
            raise DataError(f"{path}: a {type(self).__name__} prompt file needs the keys {missing}")
        return templates

    def asks(self, row: dict, answer) -> list[Ask]:
        raise NotImplementedError

    def rate(self, row: dict, answer, replies: list[str | None]) -> float | None:
        raise NotImplementedError

    def evaluate(self, queries: pd.DataFrame, answers: list) -> list[float | None]:
        rows = queries.to_dict("records")
        if len(rows) != len(answers):
            raise ValueError(f"{len(rows)} queries but {len(answers)} answers")
        asks = [self.asks(row, answer) for row, answer in zip(rows, answers)]
        replies = iter(self.backend.complete([a for per_query in asks for a in per_query]))
        per_query = [[next(replies) for _ in a] for a in asks]
        scores = [self.rate(row, answer, r) for row, answer, r in zip(rows, answers, per_query)]
        unrated = [(row["query_id"], r) for row, r, s in zip(rows, per_query, scores) if s is None]
        self.counts = {"queries": len(rows), "prompts": sum(map(len, asks)), "unrated": len(unrated),
                       "cut": sum(r is None for rs in per_query for r in rs)}
        if unrated:
            example = next((x for x in unrated[0][1] if x is not None), None)
            log.warning("%s: %d of %d answers have no rating (None; %d prompts did not fit the judge's context), "
                        "e.g. query %s, reply %r", type(self).__name__, len(unrated), len(rows), self.counts["cut"],
                        unrated[0][0], (example or "")[-300:])
        return scores
