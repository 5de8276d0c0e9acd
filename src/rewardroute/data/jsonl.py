"""Readers for response tables in JSON Lines (plain or .gz), in the two documented layouts.

long: one line per (query, expert)   {"query_id", "subset", "split"?, "query", "expert", "score", "metric"?, "tags"?}
      optionally with the query fields in a separate queries file joined on query_id.
wide: one line per query             {"query_id", "subset", "split"?, "query", "scores": {expert: score}, ...}
"""

from __future__ import annotations

import gzip
import json
from collections.abc import Callable
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


def rows_by(path: str, field: str) -> dict:
    """The rows of a jsonl file grouped by one field's value (read once per process: recorded answers and scores
    of a whole pool sit in one file; once per version of it: a file edited in place is read again)."""
    stat = Path(path).stat() if Path(path).is_file() else None
    return _rows_by(path, field, stat and (stat.st_size, stat.st_mtime_ns))


@lru_cache(maxsize=4)
def _rows_by(path: str, field: str, version: tuple | None) -> dict:
    groups: dict = {}
    for r in read_rows(path):
        groups.setdefault(r.get(field), []).append(r)
    return groups


def recorded_values(path: str, by: str, name: str, value: str, valid: Callable[[object], bool],
                    expected: str) -> dict[str, object]:
    """{query_id: the `value` field} of the rows of a recorded file whose `by` field is `name` (a model's answers
    or scores). A row without query_id or the value field, a value that is not valid, or a query_id twice is an
    error naming the row: an absent field is a misnamed one (every value would be lost), not a missing value."""
    out, first = {}, {}
    for r in rows_by(path, by).get(name, []):
        for key in ("query_id", value):
            if key not in r:
                fields = sorted(k for k in r if k not in ("file", "row"))
                raise DataError(f"{where(r)}: no {key!r} field; the row has {fields}")
        query = str(r["query_id"])
        if query in first:
            raise DataError(f"{where(r)}: query_id {query!r} of {by} {name!r} again (first in row {first[query]})")
        if not valid(r[value]):
            raise DataError(f"{where(r)}: {value} {r[value]!r} of query {query!r}; expected {expected}")
        first[query], out[query] = r["row"], r[value]
    return out


def by_query_id(rows: list[dict]) -> dict[str, dict]:
    """{query_id: row} of a queries file; a row without query_id, or one query_id twice, is an error naming the
    rows (one of two texts or subsets would be dropped silently)."""
    table: dict[str, dict] = {}
    for r in rows:
        if "query_id" not in r:
            raise DataError(f"{where(r)}: no 'query_id' field")
        first = table.setdefault(str(r["query_id"]), r)
        if first is not r:
            raise DataError(f"{where(r)}: query_id {r['query_id']!r} again (first in row {first['row']})")
    return table


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
    keep: tuple[str, ...] = (),
) -> pd.DataFrame:
    """A long score file, with query text, subset and split from the same rows or from a queries file; `keep`
    names further fields of the score rows to carry as they are (e.g. RouteLLM's turn)."""
    rows = read_rows(scores)
    if queries is not None:
        table = by_query_id(read_rows(queries))
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
                **{f: r.get(f) for f in keep},
            }
        )
    return pd.DataFrame(out)


def load_queries(path: str, tags_field: str | None = None) -> pd.DataFrame:
    """A queries file (query_id, subset, split?, query): the stages make the answers and scores."""
    out = []
    for r in by_query_id(read_rows(path)).values():
        if not isinstance(r.get("query"), str):
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
