"""The response matrix: every expert's score on every query, the table all stages after scoring work on.

Loaders return it in long form, one row per (query, expert), with the columns

    query_id, subset, split, query, expert, score      required (split may be null: a seeded split is drawn)
    metric                                             optional: the evaluation value, when it differs from score
                                                       (a column of nulls means "same as score"; a null among
                                                       values is a missing evaluation, under data.null_scores)
    tags                                               optional: a list of strings (for label enhancement)
    file, row                                          where the row came from, for error messages

`ResponseMatrix.from_long` validates that table and turns it into arrays: queries x experts.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from numbers import Real

import numpy as np
import pandas as pd

REQUIRED = ("query_id", "subset", "split", "query", "expert", "score")
NULL_POLICIES = ("fail", "drop")


class DataError(ValueError):
    """Bad input data; the message names the file and row (or the config key) and what was expected."""


def where(row: pd.Series) -> str:
    """`file, row N` of a long-table row, for error messages."""
    return f"{row.get('file', '<memory>')}, row {row.get('row', '?')}"


def where_query(row) -> str:
    """`file, row N, query ID` of a query, for error messages."""
    return f"{where(row)}, query {row['query_id']}"


@dataclass(frozen=True)
class ResponseMatrix:
    queries: pd.DataFrame  # one row per query: query_id, subset, split, query, tags, source_split
    experts: tuple[str, ...]
    scores: np.ndarray  # [queries, experts]: the raw score (reward or judge score)
    metric: np.ndarray  # [queries, experts]: the evaluation value (equals scores unless the source transforms it)
    dropped: int = 0  # queries dropped for a null score (data.null_scores=drop)
    new_tokens: np.ndarray | None = None  # [queries, experts]: answer lengths, where the generate stage made them
    stage_tags: bool = False  # the tag stage tagged the queries (the data gave queries only; a tagger is configured)

    def rewards(self, kind: str) -> np.ndarray:
        """What a router learns from: the raw `score` or the evaluation `metric`."""
        if kind not in ("score", "metric"):
            raise DataError(f"data.reward must be 'score' or 'metric', got {kind!r}")
        return self.scores if kind == "score" else self.metric

    def mask(self, split: str) -> np.ndarray:
        return (self.queries["split"] == split).to_numpy()

    def select(self, mask: np.ndarray) -> ResponseMatrix:
        return replace(
            self, queries=self.queries[mask].reset_index(drop=True), scores=self.scores[mask], metric=self.metric[mask],
            new_tokens=None if self.new_tokens is None else self.new_tokens[mask],
        )

    @property
    def subsets(self) -> list[str]:
        """Subsets in order of first appearance."""
        return list(dict.fromkeys(self.queries["subset"]))

    def subset_ids(self) -> np.ndarray:
        """Each query's subset as its index in `subsets`."""
        index = {name: i for i, name in enumerate(self.subsets)}
        return np.array([index[s] for s in self.queries["subset"]], dtype=np.int64)

    def to_long(self) -> pd.DataFrame:
        """The documented long form: one row per (query, expert), with the data's own split where it had one
        (else train or test; validation is carved from train again on loading)."""
        q = self.queries.loc[self.queries.index.repeat(len(self.experts))].reset_index(drop=True)
        if "source_split" in q.columns:
            q["split"] = q["source_split"].where(q["source_split"].notna(), q["split"].replace("val", "train"))
        q = q[["query_id", "subset", "split", "query", "tags"]]
        q["expert"] = list(self.experts) * len(self.queries)
        q["score"] = self.scores.reshape(-1)
        q["metric"] = self.metric.reshape(-1)
        return q

    @classmethod
    def from_long(
        cls,
        long: pd.DataFrame,
        experts: list[str] | None = None,
        subsets: list[str] | None = None,
        null_scores: str = "fail",
    ) -> ResponseMatrix:
        """Validate a long table and pivot it; every error names the file and row or the config key."""
        missing = [c for c in REQUIRED if c not in long.columns]
        if missing:
            files = sorted(set(long["file"])) if "file" in long.columns else ["<memory>"]
            raise DataError(f"{', '.join(files)}: missing columns {missing}; a response table needs {list(REQUIRED)}")
        if null_scores not in NULL_POLICIES:
            raise DataError(f"data.null_scores must be one of {NULL_POLICIES}, got {null_scores!r}")
        long = long.copy()
        for column, default in (("file", "<memory>"), ("row", -1), ("tags", None), ("metric", np.nan)):
            if column not in long.columns:
                long[column] = default
        long["query_id"] = long["query_id"].astype(str)

        for _, row in long[long["subset"].isna() | (long["subset"].astype(str).str.strip() == "")].iterrows():
            raise DataError(f"{where(row)}: empty subset for query {row['query_id']!r}")
        for field, what in (("query", "the query's text"), ("expert", "the expert's name")):
            for _, row in long[~long[field].map(lambda v: isinstance(v, str) and v != "")].iterrows():
                given = "missing" if pd.isna(row[field]) else repr(row[field])
                raise DataError(f"{where(row)}: {field} of query {row['query_id']!r} is {given}; expected {what}, "
                                "a non-empty string")

        long = _filter(long, "expert", experts, "data.experts")
        long = _filter(long, "subset", subsets, "data.subsets")
        long["score"], null = _numeric(long, "score")
        long["metric"], null_metric = _numeric(long, "metric")
        if null_metric.all():
            long["metric"] = long["score"]
        else:
            null = null | null_metric

        dropped = 0
        if null.any():
            if null_scores == "fail":
                row = long[null].iloc[0]
                raise DataError(
                    f"{where(row)}: null score or metric for query {row['query_id']!r}, expert {row['expert']!r} "
                    f"({int(null.sum())} in all). Set data.null_scores=drop to drop such queries."
                )
            bad = set(long.loc[null, "query_id"])
            dropped = len(bad)
            long = long[~long["query_id"].isin(bad)]

        dup = long.duplicated(["query_id", "expert"], keep=False)
        if dup.any():
            first = long[dup].iloc[0]
            rows = long[dup & (long["query_id"] == first["query_id"]) & (long["expert"] == first["expert"])]
            raise DataError(
                f"{first['file']}: duplicate query id {first['query_id']!r} for expert {first['expert']!r} "
                f"in rows {sorted(rows['row'].tolist())}"
            )

        pool = tuple(dict.fromkeys(experts or long["expert"]))
        _check_complete(long, pool)
        if subsets:
            present = set(long["subset"])
            for name in subsets:
                if name not in present:
                    raise DataError(f"data.subsets: subset {name!r} has no queries left (after dropping nulls)")

        same = long.assign(tags=long["tags"].map(lambda t: repr(_tag_list(t))))  # lists, compared as text
        kinds = same.groupby("query_id")[["subset", "split", "query", "tags"]].nunique(dropna=False)
        for field in kinds.columns:  # one query, one subset, split, text and tag list across its rows
            if (kinds[field] > 1).any():
                query = kinds.index[kinds[field] > 1][0]
                rows = same[same["query_id"] == query].drop_duplicates(field).head(2)
                plural = {"subset": "subsets", "split": "splits", "query": "texts", "tags": "tag lists"}[field]
                raise DataError(f"query {query!r} has two {plural}: " + " and ".join(
                    f"{r[field] if field == 'tags' else repr(r[field])} ({where(r)})" for _, r in rows.iterrows()))
        where_from = [c for c in ("file", "row") if c in long.columns]  # so that errors on a query name its row
        queries = long.drop_duplicates("query_id")[["query_id", "subset", "split", "query", "tags", *where_from]]
        queries = queries.reset_index(drop=True)
        queries["tags"] = queries["tags"].map(_tag_list)
        order = list(queries["query_id"])

        def wide(column: str) -> np.ndarray:
            return long.pivot(index="query_id", columns="expert", values=column).loc[order, list(pool)].to_numpy(np.float64)

        return cls(
            queries=queries,
            experts=pool,
            scores=wide("score"),
            metric=wide("metric"),
            dropped=dropped,
            new_tokens=wide("new_tokens") if "new_tokens" in long.columns else None,
        )


def _filter(long: pd.DataFrame, column: str, keep: list[str] | None, key: str) -> pd.DataFrame:
    if not keep:
        return long
    present = set(long[column])
    unknown = [k for k in keep if k not in present]
    if unknown:
        files = ", ".join(sorted(set(long["file"])))
        raise DataError(
            f"{key} names {unknown}, not found in {files}; {column}s there: {sorted(present)[:60]}"
        )
    return long[long[column].isin(keep)]


def is_number(v) -> bool:
    """A finite number, not a bool: what a score or metric must be where it is not null."""
    return isinstance(v, Real) and not isinstance(v, bool) and math.isfinite(v)


def _numeric(long: pd.DataFrame, column: str) -> tuple[pd.Series, pd.Series]:
    """Scores as floats; a value that is neither null nor a number is an error naming its row."""

    def is_null(v) -> bool:
        return v is None or (isinstance(v, float) and math.isnan(v))

    values = long[column]
    null = values.map(is_null)
    bad = ~null & ~values.map(is_number)
    if bad.any():
        row = long[bad].iloc[0]
        value = row[column].item() if hasattr(row[column], "item") else row[column]  # inf, not np.float64(inf)
        raise DataError(
            f"{where(row)}: {column} {value!r} for query {row['query_id']!r}, expert {row['expert']!r} "
            "is not a finite number"
        )
    return values.astype(np.float64), null


def _check_complete(long: pd.DataFrame, pool: tuple[str, ...]) -> None:
    """Every query needs a score from every expert; name the query, its split and the experts it lacks."""
    counts = long.groupby("query_id")["expert"].nunique()
    short = counts[counts < len(pool)]
    if short.empty:
        return
    qid = short.index[0]
    rows = long[long["query_id"] == qid]
    lacking = sorted(set(pool) - set(rows["expert"]))
    by_split = long.groupby(long["split"].fillna("<none>"))["expert"].unique().map(set)
    detail = ""
    if len(by_split) > 1 and len({frozenset(s) for s in by_split}) > 1:
        detail = " Experts differ between splits: " + "; ".join(f"{s}: {sorted(e)}" for s, e in by_split.items())
    raise DataError(
        f"{where(rows.iloc[0])}: query {qid!r} (split {rows.iloc[0]['split']!r}) has no score from {lacking}; "
        f"{len(short)} queries lack some expert of the pool {list(pool)}.{detail}"
    )


def _tag_list(tags) -> list[str]:
    if tags is None or (isinstance(tags, float) and math.isnan(tags)):
        return []
    if isinstance(tags, str):
        return [tags]
    return [str(t) for t in tags]
