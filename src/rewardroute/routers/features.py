"""What a router reads of a query: token ids (fine-tuning) or a frozen encoder's embedding. Both are computed
once per (backbone, max_length, queries) and cached on disk as Arrow data sets."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from tqdm.auto import tqdm

from rewardroute.cache import atomic_path, content_hash


def _cached(path: Path, build):
    import datasets

    if not path.exists():
        data = build()
        datasets.disable_progress_bars()  # saving takes no time worth a bar
        try:
            with atomic_path(path) as tmp:
                data.save_to_disk(str(tmp))
        finally:
            datasets.enable_progress_bars()
    return datasets.load_from_disk(str(path))


def tokenized(texts: list[str], tokenizer, max_length: int, cache_dir: str, backbone_key: str):
    """A data set with input_ids (truncated to max_length) and length, one row per text, in order."""
    import datasets

    def build():
        data = datasets.Dataset.from_dict({"text": texts})
        def tokenize(batch):
            out = tokenizer(batch["text"], truncation=True, max_length=max_length)
            return {**out, "length": [len(ids) for ids in out["input_ids"]]}

        return data.map(tokenize, batched=True, remove_columns=["text"], desc="tokenising")

    key = content_hash("tokens", backbone_key, max_length, texts)
    return _cached(Path(cache_dir) / "tokens" / key, build)


@torch.inference_mode()
def embed(texts: list[str], encoder, tokenizer, max_length: int, batch_size: int, device: str,
          desc: str = "embedding queries") -> np.ndarray:
    """Pooled embeddings of `texts`, batched in order of length (little padding), returned in input order."""
    encoder = encoder.to(device).eval()
    order = np.argsort([-len(t) for t in texts], kind="stable")
    out = np.zeros((len(texts), encoder.dim), dtype=np.float32)
    for start in tqdm(range(0, len(texts), batch_size), desc=desc, unit="batch"):
        rows = order[start : start + batch_size]
        batch = tokenizer([texts[i] for i in rows], truncation=True, max_length=max_length, padding=True, return_tensors="pt")
        vectors = encoder(batch["input_ids"].to(device), batch["attention_mask"].to(device))
        out[rows] = vectors.float().cpu().numpy()
    return out


PIECE = 2048  # texts per cached piece of embeddings: a first embedding that is stopped keeps the pieces it made


def embedded(
    texts: list[str], encoder, tokenizer, max_length: int, batch_size: int, device: str, cache_dir: str, backbone_key: str
):
    """A data set with the frozen encoder's `features`, one row per text, in order: cached in pieces of PIECE
    texts, each under its own key, so that a run stopped while embedding many queries starts again where it was."""
    import datasets

    starts = range(0, max(len(texts), 1), PIECE)
    pieces = []
    for n, start in enumerate(starts, 1):
        piece = texts[start : start + PIECE]
        desc = "embedding queries" + (f" (piece {n} of {len(starts)})" if len(starts) > 1 else "")

        def build(piece=piece, desc=desc):
            return datasets.Dataset.from_dict({"features": embed(piece, encoder, tokenizer, max_length, batch_size,
                                                                 device, desc)})

        key = content_hash("embeddings", backbone_key, max_length, piece)
        pieces.append(_cached(Path(cache_dir) / "embeddings" / key, build))
    return pieces[0] if len(pieces) == 1 else datasets.concatenate_datasets(pieces)
