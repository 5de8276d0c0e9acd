"""A trained reward model as a scorer of (prompt, response) pairs: `export` writes one after training
(task=train_rm writes `<run>/reward_model/`), `load_trained` reads it back anywhere, without the training data or
configs, e.g. as the reward model of the score stage:

    from rewardroute.reward_models import load_trained
    rm = load_trained("outputs/rm_routers/multiruns/<date-time>/0")     # the run folder or its reward_model/
    rm.score(["What is 2 + 2?"], ["4"])                                 # np.ndarray, one reward per pair

The folder holds
    reward_model.json   the architecture (`target` class and its arguments), domains, pooling, how texts become
                        token ids (`encoding`: lengths, truncation sides), and `fingerprint` (a hash of the weights: changes whenever the model does)
    encoder/            the encoder's Hugging Face config (its weights are in model.safetensors)
    tokenizer/          the tokenizer (for backbone=tiny, the one built from the training corpus)
    model.safetensors   every weight (all K + 1 models of RODOS, every adapter and head of ARLISS)
    adapters/           ARLISS only: each LoRA adapter with its head, in peft's format
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict
from pathlib import Path

import numpy as np

from rewardroute.cache import atomic_path

META = "reward_model.json"


def export(module, encoder_config, tokenizer, pooling: str, encoding, folder: str | Path) -> Path:
    """Write `module` (a trained reward_models LightningModule) as a self-contained folder, atomically."""
    from safetensors.torch import save_model

    folder = Path(folder)
    with atomic_path(folder, replace=True) as tmp:
        tmp.mkdir()
        encoder_config.save_pretrained(tmp / "encoder")
        tokenizer.save_pretrained(tmp / "tokenizer")
        save_model(module, str(tmp / "model.safetensors"))
        module.save_extra(tmp)
        fingerprint = hashlib.blake2b((tmp / "model.safetensors").read_bytes(), digest_size=10).hexdigest()
        meta = {"target": f"{type(module).__module__}.{type(module).__qualname__}", "hparams": dict(module.hparams),
                "pooling": pooling, "encoding": asdict(encoding), "fingerprint": fingerprint}
        (tmp / META).write_text(json.dumps(meta, indent=2) + "\n")
    return folder


class TrainedRewardModel:
    """A loaded reward model: `score` pairs in batches; routed architectures route each prompt first. The score
    stage runs it in its own predict loop through `token_ids`, `batch` and `rewards`."""

    def __init__(self, module, tokenizer, encoding, meta: dict, device: str = "cpu"):
        self.module, self.tokenizer, self.encoding = module.to(device).eval(), tokenizer, encoding
        self.meta, self.device = meta, device

    @property
    def domains(self) -> list[str]:
        return list(self.meta["hparams"]["domains"])

    @property
    def fingerprint(self) -> str:
        """Changes whenever the weights do: part of the key of cached scores."""
        return self.meta["fingerprint"]

    def token_ids(self, prompts: list[str], responses: list[str]) -> tuple[list[list[int]], list[list[int]]]:
        """Token ids of each prompt + response (what the reward models read) and of each prompt (the router's)."""
        if len(prompts) != len(responses):
            raise ValueError(f"score: {len(prompts)} prompts but {len(responses)} responses")
        return self.encoding.responses(self.tokenizer, prompts, responses), self.encoding.prompts(self.tokenizer, prompts)

    def batch(self, response_ids: list[list[int]], prompt_ids: list[list[int]]) -> dict:
        from rewardroute.data.datamodule import pad

        pad_id = self.tokenizer.pad_token_id or 0
        input_ids, attention_mask = pad(response_ids, pad_id)
        prompt_ids, prompt_mask = pad(prompt_ids, pad_id)
        return {"input_ids": input_ids, "attention_mask": attention_mask, "prompt_ids": prompt_ids,
                "prompt_mask": prompt_mask}

    def rewards(self, batch: dict):
        """[rows] float32 rewards of a `batch` (on the module's device)."""
        import torch

        with torch.inference_mode():
            route, _ = self.module.route(batch["prompt_ids"], batch["prompt_mask"])
            return self.module.rewards(batch["input_ids"], batch["attention_mask"], route)[0].float()

    def score(self, prompts: list[str], responses: list[str], batch_size: int = 32) -> np.ndarray:
        """One reward per (prompt, response), float32, in input order (higher: better). Batches are formed by
        length (little padding); a routed architecture first routes each prompt to its domain's reward model."""
        ids, prompt_ids = self.token_ids(prompts, responses)
        order = np.argsort([-len(i) for i in ids], kind="stable")
        rewards = np.zeros(len(ids), dtype=np.float32)
        for start in range(0, len(ids), batch_size):
            rows = order[start:start + batch_size]
            batch = self.batch([ids[i] for i in rows], [prompt_ids[i] for i in rows])
            rewards[rows] = self.rewards({k: t.to(self.device) for k, t in batch.items()}).cpu().numpy()
        return rewards


def saved_folder(path: str | Path) -> tuple[Path, dict]:
    """The folder written by `export` at `path` (or in its reward_model/) and its metadata."""
    path = Path(path)
    folder = path if (path / META).is_file() else path / "reward_model"
    if not (folder / META).is_file():
        raise FileNotFoundError(f"{path}: no trained reward model (expected {META} there or in reward_model/, "
                                "as task=train_rm writes in its run folder)")
    return folder, json.loads((folder / META).read_text())


def load_trained(path: str | Path, device: str = "cpu") -> TrainedRewardModel:
    """The reward model saved in `path`: a folder written by `export`, or a run folder holding one."""
    from hydra.utils import get_class
    from safetensors.torch import load_model
    from transformers import AutoConfig, AutoModel, AutoTokenizer

    from rewardroute.data.pair_datamodule import PairEncoding
    from rewardroute.routers.backbones import TextEncoder

    folder, meta = saved_folder(path)
    encoder = TextEncoder(AutoModel.from_config(AutoConfig.from_pretrained(folder / "encoder")), meta["pooling"])
    module = get_class(meta["target"])(encoder=encoder, **meta["hparams"])
    load_model(module, str(folder / "model.safetensors"))
    tokenizer = AutoTokenizer.from_pretrained(folder / "tokenizer")
    return TrainedRewardModel(module, tokenizer, PairEncoding(**meta["encoding"]), meta, device)
