"""A judge backend: a local transformers causal LM (an experts.models.CausalLM or TinyCausalLM), greedy, through
the generate stage's resumable, batched, length-sorted Lightning predict loop (pipeline/sharded.py).

The system message is put before the user message in one user turn, rendered with the model's prompt format
(its chat template by default), so any causal LM serves. A prompt longer than the context minus
`max_new_tokens` would lose its start (the judge's instructions): its reply is None, and counted by the judge.
Finished batches wait in `parts_dir/<key>` until all are done, so a killed judge run resumes there.
"""

from __future__ import annotations

import logging
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)


@dataclass
class LocalLM:
    model: Any  # an experts.models.CausalLM (hub id or path, prompt format, dtype) or TinyCausalLM
    max_new_tokens: int = 1024
    batch_size: int = 4
    accelerator: str = "auto"
    devices: Any = 1
    precision: str = "32-true"
    parts_dir: str | None = None  # None: a temporary folder (no resume)

    def spec(self) -> dict:
        return {"kind": "LocalLM", "model": self.model.spec(), "max_new_tokens": self.max_new_tokens,
                "precision": self.precision}

    def complete(self, asks: list[tuple[str, str]]) -> list[str | None]:
        from omegaconf import OmegaConf

        from rewardroute.cache import content_hash
        from rewardroute.experts.generation import GenerateModule
        from rewardroute.pipeline.sharded import run_sharded

        texts = [f"{system}\n\n{user}" if system else user for system, user in asks]
        trainer = OmegaConf.create({"accelerator": self.accelerator, "devices": self.devices, "num_nodes": 1,
                                    "strategy": "auto", "precision": self.precision})
        generation = {"max_new_tokens": self.max_new_tokens, "do_sample": False}

        def build():
            model, tokenizer = self.model.load()
            log.info("judge: loaded %s", self.model.model)
            return GenerateModule("judge", model, tokenizer, self.model.prompt, self.model.context(model), generation,
                                  seed=0)

        root = Path(self.parts_dir) if self.parts_dir else Path(tempfile.mkdtemp(prefix="judge-"))
        parts = root / content_hash(self.spec(), texts)
        outputs = run_sharded([{"query": t} for t in texts], [len(t) for t in texts], self.batch_size, build, parts,
                              trainer, desc=f"judge with {self.model.model}")
        shutil.rmtree(parts if self.parts_dir else root, ignore_errors=True)
        return [None if o["truncated"] else o["response"] for o in outputs]
