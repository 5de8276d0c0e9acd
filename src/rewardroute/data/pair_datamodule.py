"""Token ids of preference pairs (computed once per backbone and lengths, cached as an Arrow data set) and the
LightningDataModule of reward-model training.

A response is read with its prompt as the tokenizer's text pair (prompt, response); domain routers read the
prompt alone (`PairEncoding`).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch

from rewardroute.cache import content_hash
from rewardroute.data.datamodule import RouterDataModule, pad
from rewardroute.data.pairs import PairSet
from rewardroute.routers.features import _cached


@dataclass(frozen=True)
class PairEncoding:
    """Prompt + response within `max_length` tokens: when longer, the longer of the two loses tokens first, from
    `truncation_side` (left: a response keeps its end). The prompt alone for a domain router within
    `prompt_max_length`, losing tokens from `prompt_truncation_side` (right: a prompt keeps its start)."""

    max_length: int = 128
    truncation_side: str = "left"
    prompt_max_length: int = 64
    prompt_truncation_side: str = "right"

    def __post_init__(self):
        for key in ("truncation_side", "prompt_truncation_side"):
            if getattr(self, key) not in ("left", "right"):
                raise ValueError(f"rm.{key} must be 'left' or 'right', got {getattr(self, key)!r}")

    def responses(self, tokenizer, prompts: list[str], responses: list[str]) -> list[list[int]]:
        tokenizer.truncation_side = self.truncation_side
        return tokenizer(list(prompts), list(responses), truncation="longest_first", max_length=self.max_length)["input_ids"]

    def prompts(self, tokenizer, prompts: list[str]) -> list[list[int]]:
        tokenizer.truncation_side = self.prompt_truncation_side
        return tokenizer(list(prompts), truncation=True, max_length=self.prompt_max_length)["input_ids"]


def pair_tokens(pairs: PairSet, tokenizer, encoding: PairEncoding, cache_dir: str, backbone_key: str):
    """A data set with chosen_ids, rejected_ids, prompt_ids and length (the longer response), one row per pair."""
    import datasets

    table = pairs.pairs

    def build():
        data = datasets.Dataset.from_pandas(table[["prompt", "chosen", "rejected"]], preserve_index=False)

        def tokenize(batch):
            chosen = encoding.responses(tokenizer, batch["prompt"], batch["chosen"])
            rejected = encoding.responses(tokenizer, batch["prompt"], batch["rejected"])
            return {"chosen_ids": chosen, "rejected_ids": rejected, "prompt_ids": encoding.prompts(tokenizer, batch["prompt"]),
                    "length": [max(len(c), len(r)) for c, r in zip(chosen, rejected)]}

        return data.map(tokenize, batched=True, remove_columns=["prompt", "chosen", "rejected"], desc="tokenising pairs")

    key = content_hash("pairs", backbone_key, asdict(encoding),
                       *(table[c].tolist() for c in ("prompt", "chosen", "rejected")))
    return _cached(Path(cache_dir) / "pair_tokens" / key, build)


class PairDataModule(RouterDataModule):
    """The router DataModule's splits and loaders over pairs. A batch carries, per pair, `idx`, `domain` (an
    index into the domains), `tie`, `prompt_ids` / `prompt_mask` and, per response, `input_ids` /
    `attention_mask`: the chosen responses of the batch first, then the rejected ones (one encoder call)."""

    def __init__(self, featurize, pairs: PairSet, pad_id: int, batch_size: int = 16, eval_batch_size: int = 64,
                 num_workers: int = 0):
        columns = {"domain": pairs.domain_ids, "tie": pairs.pairs["tie"].to_numpy(dtype=np.float32, copy=True)}
        super().__init__(featurize, columns, pairs.pairs["split"].to_numpy(), batch_size, eval_batch_size,
                         num_workers, pad_id)

    def collate(self, examples: list[dict]) -> dict[str, torch.Tensor]:
        idx = torch.tensor([int(e["idx"]) for e in examples])
        ids, mask = pad([e["chosen_ids"] for e in examples] + [e["rejected_ids"] for e in examples], self.pad_id)
        prompt_ids, prompt_mask = pad([e["prompt_ids"] for e in examples], self.pad_id)
        return {"idx": idx, **{name: values[idx] for name, values in self.columns.items()}, "input_ids": ids,
                "attention_mask": mask, "prompt_ids": prompt_ids, "prompt_mask": prompt_mask}
