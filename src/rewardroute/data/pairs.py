"""Domain-labelled preference pairs for reward models (task=train_rm): loaders, validation, a seeded split,
and a synthetic generator of trivially separable pairs for tests.

A pair table has one row per pair with the columns

    pair_id, domain, prompt, chosen, rejected, tie      (tie: the two responses were judged equal)
    file, row                                           where the row came from, for error messages

JSON Lines files (`load_pairs`) give `prompt`, `chosen`, `rejected` and a domain field, and optionally
`pair_id` (else a hash of the texts) and `tie` (default false): the format of ../shared/data/preference_pairs.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np
import pandas as pd

from rewardroute.cache import content_hash
from rewardroute.data.jsonl import read_rows
from rewardroute.data.matrix import DataError, where
from rewardroute.data.splits import check_fractions, hashed, with_validation
from rewardroute.data.synthetic import VOCAB

log = logging.getLogger(__name__)

TEXT_FIELDS = ("prompt", "chosen", "rejected")


def load_pairs(files: str | list[str], domain_field: str = "domain", id_field: str = "pair_id",
               tie_field: str = "tie") -> pd.DataFrame:
    """The pairs of one or more jsonl(.gz) files (their domains are pooled)."""
    paths = [files] if isinstance(files, str) else list(files)
    if not paths:
        raise DataError("data.source.files names no file: give one or more jsonl files of preference pairs")
    out = []
    for path in paths:
        for r in read_rows(path):
            for key in TEXT_FIELDS:  # empty texts are allowed: an empty answer can be the better one
                if not isinstance(r.get(key), str):
                    raise DataError(f"{where(r)}: {key!r} must be a string, got {r.get(key)!r}")
            domain = r.get(domain_field)
            if domain is None or not str(domain).strip():
                raise DataError(f"{where(r)}: empty domain ({domain_field!r} field)")
            tie = r.get(tie_field, False)
            if not isinstance(tie, bool):
                raise DataError(f"{where(r)}: {tie_field!r} must be true or false, got {tie!r}")
            pair_id = r.get(id_field)
            out.append({
                "pair_id": str(pair_id) if pair_id is not None else content_hash([r[k] for k in TEXT_FIELDS]),
                "domain": str(domain), **{k: r[k] for k in TEXT_FIELDS}, "tie": tie, "file": r["file"], "row": r["row"],
            })
    return pd.DataFrame(out)


# Trivially separable: the chosen response carries praise words, the rejected one blame words.
GOOD = ("clear", "correct", "helpful", "precise", "thorough", "friendly", "accurate", "complete")
BAD = ("wrong", "vague", "rude", "lazy", "confusing", "incorrect", "sloppy", "useless")


def synthetic_pairs(n_per_domain: int = 40, n_ties_per_domain: int = 0, domains: list[str] | None = None,
                    seed: int = 0) -> pd.DataFrame:
    """Seeded pairs over the synthetic benchmark's domains and vocabulary: prompts ask about a domain term; the
    chosen response describes itself with words from GOOD, the rejected one with words from BAD (ties: both GOOD)."""
    domains = list(domains or VOCAB)
    unknown = sorted(set(domains) - set(VOCAB))
    if unknown:
        raise DataError(f"data.source.domains names {unknown}; the synthetic domains are {sorted(VOCAB)}")
    rng = np.random.default_rng(seed)

    def response(term: str, words: tuple[str, ...]) -> str:
        a, b, c = rng.choice(words, size=3, replace=False)
        return f"A {a} and {b} answer about the {term}, {c} from start to end."

    rows = []
    for domain in domains:
        terms = [t for topic in VOCAB[domain].values() for t in topic]
        for i in range(n_per_domain + n_ties_per_domain):
            term = terms[rng.integers(len(terms))]
            tie = i >= n_per_domain
            rows.append({"pair_id": f"{domain}/{i}", "domain": domain, "prompt": f"Question {i} on the {term} in {domain}?",
                         "chosen": response(term, GOOD), "rejected": response(term, GOOD if tie else BAD), "tie": tie,
                         "file": "<synthetic>", "row": len(rows) + 1})
    return pd.DataFrame(rows)


@dataclass(frozen=True)
class PairSet:
    pairs: pd.DataFrame  # the pair table plus `split`: train / val / test
    domains: tuple[str, ...]  # in the order of data.subsets, else sorted; `domain_id` indexes this
    ties_dropped: int = 0

    def counts(self) -> dict[str, int]:
        return {**self.pairs["split"].value_counts().to_dict(), "ties_kept": int(self.pairs["tie"].sum()),
                "ties_dropped": self.ties_dropped}

    @property
    def domain_ids(self) -> np.ndarray:
        index = {d: i for i, d in enumerate(self.domains)}
        return self.pairs["domain"].map(index).to_numpy(dtype=np.int64, copy=True)  # writable, for torch


def prepare_pairs(table: pd.DataFrame, subsets: list[str] | None = None, drop_ties: bool = True,
                  test_fraction: float = 0.2, val_fraction: float = 0.1, seed: int = 0) -> PairSet:
    """Keep the domains in `subsets`, drop ties (or keep them), and split every pair by a hash of its prompt and
    the seed: the pairs of one prompt share a split, and a pair's split never depends on row order or on which
    other pairs are loaded."""
    check_fractions(test_fraction, val_fraction)
    files = sorted(set(table["file"]))
    duplicated = table[table["pair_id"].duplicated(keep=False)]
    if len(duplicated):
        first = duplicated[duplicated["pair_id"] == duplicated["pair_id"].iloc[0]]
        raise DataError(f"duplicate pair_id {first['pair_id'].iloc[0]!r} in {', '.join(where(r) for _, r in first.iterrows())}")
    present = sorted(set(table["domain"]))
    if subsets:
        unknown = [s for s in subsets if s not in present]
        if unknown:
            raise DataError(f"data.subsets names {unknown}, not found in {', '.join(files)}: the domains are {present}")
        table = table[table["domain"].isin(subsets)]
    ties = int(table["tie"].sum()) if drop_ties else 0
    if drop_ties:
        table = table[~table["tie"]]
    table = table.reset_index(drop=True)
    groups = table["prompt"]  # the pairs of one prompt share a split: test prompts are never seen in training
    test = hashed(groups, "test", seed, test_fraction)
    table["split"] = with_validation(groups, test, val_fraction, seed)
    pairs = PairSet(table, tuple(subsets or present), ties)
    if not (table["split"] == "train").any():
        raise DataError(f"no training pairs in {', '.join(files)}: {len(table)} pairs after the domain filter "
                        f"and {ties} ties dropped, data.test_fraction={test_fraction}, data.val_fraction={val_fraction}")
    if not test.any():
        raise DataError(f"no test pairs in {', '.join(files)}: raise data.test_fraction (now {test_fraction})")
    empty = [d for d in pairs.domains if not ((table["domain"] == d) & (table["split"] == "train")).any()]
    if empty:
        log.warning("domains without training pairs (their reward models stay untrained): %s", empty)
    return pairs


def load_pair_set(cfg) -> PairSet:
    """The pairs of the `data` config group: its source, domain filter (data.subsets), ties and split."""
    from hydra.utils import instantiate

    pairs = prepare_pairs(instantiate(cfg.source), cfg.subsets, cfg.drop_ties, cfg.test_fraction, cfg.val_fraction,
                          cfg.split_seed)
    log.info("%s: %d domains, %s", cfg.name, len(pairs.domains), pairs.counts())
    return pairs
