"""The queries of one evaluation subset (the `queries` of a conf/benchmark file), from a local file when it exists,
else from the Hugging Face hub.

    load_benchmark(subset, local={path, fields, join}, hub={path, name, split, data_files, fields},
                   where={column: value or [values]}, query_template=None)

returns one row per query: query_id (str), subset (= `subset`), split ("test"), query (the routed text), the
source's other fields (renamed by `fields`: {our column: the source's field}), file and row (where it came from).

- `where` keeps rows whose column equals one of the values or, for a list column (FLASK's `domains`), contains
  one. A query in several FLASK domains is in each of their subsets, under the same query_id.
- `query_template` builds `query` from the row's columns (`str.format`, e.g. "{question}\nA. {choices[0]}").
- `join` adds fields from a second jsonl file keyed by query_id (AlpacaEval's reference answers sit in its
  responses file, not beside the queries).
- A source without an id field numbers its rows in source order, before filtering: ids stay stable per subset.
- The source's own `subset` field, where it differs from the subset's name, is kept as `source_subset`.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import pandas as pd
from omegaconf import DictConfig, OmegaConf

from rewardroute.data.jsonl import read_rows
from rewardroute.data.matrix import DataError


def load_benchmark(
    subset: str,
    local: Mapping | None = None,
    hub: Mapping | None = None,
    where: Mapping | None = None,
    query_template: str | None = None,
) -> pd.DataFrame:
    local, hub, where = (OmegaConf.to_container(c, resolve=True) if isinstance(c, DictConfig) else c
                         for c in (local, hub, where))
    path = (local or {}).get("path")
    local_hint = f"the local file {path} does not exist" if path else "no local file is set (benchmark.queries.local.path)"
    if path and Path(path).is_file():
        rows, source = local_rows(local), str(path)
    elif hub is not None:
        rows, source = hub_rows(hub, subset, local_hint), f"hub dataset {hub['path']}"
    else:
        raise DataError(f"benchmark {subset}: {local_hint} and no hub source is configured (benchmark.queries.hub)")
    for i, row in enumerate(rows):
        row["query_id"] = str(row["query_id"]) if row.get("query_id") is not None else str(i)
    rows = [r for r in rows if matches(r, where or {}, source)]
    if not rows:
        raise DataError(f"benchmark {subset}: no query of {source} has {dict(where or {})}")
    for r in rows:
        if query_template is not None:
            r["query"] = query_text(query_template, r)
        if not isinstance(r.get("query"), str) or not r["query"].strip():
            raise DataError(f"{r['file']}, row {r['row']}: no query text (map it with fields.query or build it with "
                            "query_template)")
        if r.get("subset") not in (None, subset):
            r["source_subset"] = r["subset"]
        r["subset"], r["split"] = subset, "test"
    table = pd.DataFrame(rows)
    duplicated = table["query_id"][table["query_id"].duplicated()]
    if len(duplicated):
        raise DataError(f"benchmark {subset}: {source} repeats query_id {duplicated.iloc[0]!r}")
    first = ["query_id", "subset", "split", "query"]
    return table[first + [c for c in table.columns if c not in first]]


def renamed(row: dict, fields: Mapping | None) -> dict:
    """The row with the source's fields under our names ({ours: theirs}); a field the row lacks becomes None."""
    out = dict(row)
    for ours, theirs in (fields or {}).items():
        out[ours] = out.pop(theirs, None) if ours != theirs else out.get(theirs)
    return out


def local_rows(spec: Mapping) -> list[dict]:
    rows = [renamed(r, spec.get("fields")) for r in read_rows(spec["path"])]
    join = spec.get("join")
    if join is not None:
        extra = {str(r["query_id"]): renamed(r, join.get("fields"))
                 for r in read_rows(join["path"]) if matches(r, join.get("where") or {}, join["path"])}
        for r in rows:
            found = extra.get(str(r.get("query_id")))
            if found is None:
                raise DataError(f"{r['file']}, row {r['row']}: query_id {r.get('query_id')!r} has no row in "
                                f"{join['path']} with {dict(join.get('where') or {})}")
            r.update({k: found[k] for k in join.get("fields") or {}})
    return rows


def hub_rows(spec: Mapping, subset: str, local_hint: str) -> list[dict]:
    import datasets

    args = {k: spec[k] for k in ("name", "data_files") if spec.get(k) is not None}
    try:
        data = datasets.load_dataset(spec["path"], split=spec["split"], **args)
    except Exception as e:  # noqa: BLE001 - offline, unknown id, no such split: say what to set instead
        raise DataError(f"benchmark {subset}: {local_hint}, and the hub dataset {spec['path']} "
                        f"({args.get('name', 'default')}, split {spec['split']}) could not be loaded: "
                        f"{type(e).__name__}: {e}. Set benchmark.queries.local.path to a jsonl copy.") from None
    where = f"hub {spec['path']}/{spec['split']}"
    return [{**renamed(r, spec.get("fields")), "file": where, "row": i + 1} for i, r in enumerate(data)]


def matches(row: dict, where: Mapping, source: str) -> bool:
    for column, wanted in where.items():
        if column not in row:
            raise DataError(f"{source}: no field {column!r} to select by (row {row.get('row', '?')})")
        wanted = set(wanted) if isinstance(wanted, list) else {wanted}
        value = row[column]
        have = set(value) if isinstance(value, (list, tuple)) else {value}
        if not have & wanted:
            return False
    return True


def query_text(template: str, row: dict) -> str:
    try:
        return template.format_map(row)
    except (KeyError, IndexError) as e:
        raise DataError(f"{row['file']}, row {row['row']}: query_template {template!r} needs {e}") from None
