"""Readers for response tables in JSON Lines (plain or .gz), in the two documented layouts.

long: one line per (query, expert)   {"query_id", "subset", "split"?, "query", "expert", "score", "metric"?, "tags"?}
      optionally with the query fields in a separate queries file joined on query_id.
wide: one line per query             {"query_id", "subset", "split"?, "query", "scores": {expert: score}, ...}
"""

from __future__ import annotations

import gzip
import json
from functools import lru_cache
from pathlib import Path

import pandas as pd

from rewardroute.data.matrix import DataError, where

QUERY_FIELDS = ("subset", "split", "query")


def read_rows(path: str | Path) -> list[dict]:
    """Every line of a jsonl(.gz) file as a dict with its file and 1-based row number."""
    path = Path(path)
    if not path.is_file():
        raise DataError(f"{path}: no such file (set data.root or paths.data_dir to the data folder)")
    rows = []
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rt", encoding="utf-8") as f:
        for number, line in enumerate(f, start=1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
            except json.JSONDecodeError as e:
                raise DataError(f"{path}, row {number}: not valid JSON ({e.msg})") from None
            if not isinstance(row, dict):
                raise DataError(f"{path}, row {number}: expected a JSON object, got {type(row).__name__}")
            row["file"], row["row"] = str(path), number
            rows.append(row)
    if not rows:
        raise DataError(f"{path}: the file is empty")
    return rows


@lru_cache(maxsize=4)
def rows_by(path: str, field: str) -> dict:
    """The rows of a jsonl file grouped by one field's value (read once per process: recorded answers and scores
    of a whole pool sit in one file)."""
    groups: dict = {}
    for r in read_rows(path):
        groups.setdefault(r.get(field), []).append(r)
    return groups


def query_field(row: dict, source: dict, field: str):
    """A query's subset, split or text: from its row in the queries file, else from the score row; the two
    disagreeing is an error naming both rows."""
    given, known = row.get(field), source.get(field)
    if source is not row and given is not None and known is not None and given != known:
        raise DataError(f"{where(row)}: {field} {given!r} of query {row['query_id']!r} differs from {known!r} in "
                        f"{where(source)}")
    return known if known is not None else given


def _tags(row: dict, field: str | None):
    if field is None or row.get(field) is None:
        return None
    value = row[field]
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    return value if isinstance(value, list) else [f"{field}_{value}"]


def load_long(
    scores: str,
    queries: str | None = None,
    expert_field: str = "expert",
    score_field: str = "score",
    tags_field: str | None = None,
) -> pd.DataFrame:
    """A long score file, with query text, subset and split from the same rows or from a queries file."""
    rows = read_rows(scores)
    if queries is not None:
        table = {}
        for q in read_rows(queries):
            if "query_id" not in q:
                raise DataError(f"{q['file']}, row {q['row']}: no query_id")
            table[str(q["query_id"])] = q
    out = []
    for r in rows:
        # an absent score is a wrong score_field, not a missing value (JSON null, under data.null_scores): with
        # null_scores=drop it would drop every query
        for key in ("query_id", expert_field, score_field):
            if key not in r:
                fields = sorted(k for k in r if k not in ("file", "row"))
                raise DataError(f"{where(r)}: no {key!r} field; the row has {fields} (expert_field and "
                                "score_field name the expert's and the score's fields; an unknown score is null)")
        source = r
        if queries is not None:
            source = table.get(str(r["query_id"]))
            if source is None:
                raise DataError(f"{r['file']}, row {r['row']}: query_id {r['query_id']!r} is not in {queries}")
        out.append(
            {
                "query_id": str(r["query_id"]),
                **{f: query_field(r, source, f) for f in QUERY_FIELDS},
                "expert": r[expert_field],
                "score": r[score_field],
                "metric": r.get("metric"),
                "tags": _tags(source, tags_field),
                "file": r["file"],
                "row": r["row"],
            }
        )
    return pd.DataFrame(out)


def load_queries(path: str, tags_field: str | None = None) -> pd.DataFrame:
    """A queries file (query_id, subset, split?, query): the stages make the answers and scores."""
    out = []
    for r in read_rows(path):
        if "query_id" not in r or not isinstance(r.get("query"), str):
            raise DataError(f"{r['file']}, row {r['row']}: a query needs 'query_id' and a 'query' string")
        out.append({"query_id": str(r["query_id"]), **{f: r.get(f) for f in QUERY_FIELDS},
                    "tags": _tags(r, tags_field), "file": r["file"], "row": r["row"]})
    return pd.DataFrame(out)


def load_wide(path: str, scores_field: str = "scores", tags_field: str | None = None) -> pd.DataFrame:
    """A wide file, one line per query with a {expert: score} map; returned in long form."""
    out = []
    for r in read_rows(path):
        scores = r.get(scores_field)
        if not isinstance(scores, dict) or not scores:
            raise DataError(f"{r['file']}, row {r['row']}: {scores_field!r} must be a non-empty {{expert: score}} map")
        if "query_id" not in r:
            raise DataError(f"{r['file']}, row {r['row']}: no 'query_id' field")
        base = {
            "query_id": str(r["query_id"]),
            **{f: r.get(f) for f in QUERY_FIELDS},
            "tags": _tags(r, tags_field),
            "score_kind": r.get("score_kind"),
            "file": r["file"],
            "row": r["row"],
        }
        out.extend({**base, "expert": expert, "score": score} for expert, score in scores.items())
    return pd.DataFrame(out)
