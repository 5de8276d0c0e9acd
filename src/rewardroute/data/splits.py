"""Train / validation / test splits that are stable across runs: a query's split depends only on its id and
the seed, never on row order or on which other queries are loaded."""

from __future__ import annotations

import hashlib
from dataclasses import replace

import numpy as np
import pandas as pd

from rewardroute.data.matrix import DataError, ResponseMatrix, where

TRAIN_SPLITS = {"train"}  # the data's own split names that mean "train"
VAL_SPLITS = {"val", "validation", "dev"}  # ... that mean validation; every other name is read as test


def unit_hash(salt: str, seed: int, query_id: str) -> float:
    """A uniform number in [0, 1) fixed by (salt, seed, query_id)."""
    digest = hashlib.blake2b(f"{salt}:{seed}:{query_id}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") / 2**64


def check_fractions(test_fraction: float, val_fraction: float) -> None:
    for key, value in (("data.test_fraction", test_fraction), ("data.val_fraction", val_fraction)):
        if not 0 <= value < 1:
            raise DataError(f"{key} must be in [0, 1), got {value}")


def hashed(ids, salt: str, seed: int, fraction: float) -> np.ndarray:
    """Whether each id falls in a seeded `fraction` of all ids (by its hash: independent of row order)."""
    return np.array([unit_hash(salt, seed, i) < fraction for i in ids], dtype=bool)


def with_validation(ids, test: np.ndarray, val_fraction: float, seed: int, salt: str = "val") -> np.ndarray:
    """train / val / test per id: `test` as given, a seeded `val_fraction` of the others val (drawn by `salt`)."""
    val = ~test & hashed(ids, salt, seed, val_fraction)
    return np.where(test, "test", np.where(val, "val", "train"))


def split_labels(queries: pd.DataFrame, test_fraction: float, val_fraction: float, seed: int) -> np.ndarray:
    """train / val / test per query (columns query_id and split, the data's own split or null).

    The data's own splits are used where it has them ("train" stays train, "val", "validation" or "dev" is
    validation, any other name, e.g. "test" or "ood", is test); otherwise a seeded `test_fraction` of the
    queries is test. Without a validation split of the data's own, validation is a seeded `val_fraction` of train.
    """
    check_fractions(test_fraction, val_fraction)
    own = queries["split"].notna() & (queries["split"].astype(str).str.len() > 0)
    if own.any() and not own.all():
        row = queries[~own].iloc[0]
        raise DataError(f"some queries have a split and some have none, e.g. {where(row)}: query {row['query_id']!r} "
                        "has none; give every query a split (train, test, ...) or none (a seeded split is drawn)")
    ids = queries["query_id"].astype(str)
    own_val = queries["split"].isin(VAL_SPLITS).to_numpy()
    if own.all():
        test = ~queries["split"].isin(TRAIN_SPLITS | VAL_SPLITS).to_numpy()
    else:
        test = hashed(ids, "test", seed, test_fraction)
    if own_val.any():
        split = np.where(test, "test", np.where(own_val, "val", "train"))
    else:
        split = with_validation(ids, test, val_fraction, seed)
    if not (split == "train").any():
        found = sorted(set(queries["split"].dropna())) or ["<none>"]
        raise DataError(f"no training queries: the data's splits are {found}; a router needs a 'train' split")
    if not test.any():
        raise DataError("no test queries: raise data.test_fraction or provide a test split")
    return split


def assign_splits(matrix: ResponseMatrix, test_fraction: float, val_fraction: float, seed: int) -> ResponseMatrix:
    """Set `split` to train / val / test (see split_labels) and keep the data's own split in `source_split`."""
    q = matrix.queries.copy()
    q["source_split"] = q["split"]
    q["split"] = split_labels(q, test_fraction, val_fraction, seed)
    return replace(matrix, queries=q)


def fold_splits(matrix: ResponseMatrix, folds: int, fold: int, val_fraction: float, seed: int) -> ResponseMatrix:
    """Cross-fitting: the queries of fold `fold` (of `folds`, seeded by query id) are test; a seeded
    `val_fraction` of the others is validation, drawn anew per fold (one draw for all would leave the same
    queries out of every fold's training), the rest train."""
    if folds < 2:
        raise DataError(f"data.cross_fit_folds must be at least 2, got {folds}")
    ids = matrix.queries["query_id"].astype(str)
    test = np.array([int(unit_hash("fold", seed, i) * folds) == fold for i in ids])
    q = matrix.queries.assign(split=with_validation(ids, test, val_fraction, seed, salt=f"val-fold{fold}"))
    return replace(matrix, queries=q)
