"""The generate stage: every expert answers every query, as a Lightning predict loop (see pipeline/sharded.py).
A query with several `turns` (MT-Bench) is answered turn by turn: the first turn (what routers see) gives
`response`, the second, asked after the first exchange, gives `response_turn2`.

Rules for inputs that do not fit:
- A prompt longer than the expert's context minus max_new_tokens loses its start (left truncation: the end of
  the query and the assistant cue are kept); such prompts are counted in the artifact's metadata and logged.
- A tokenizer without a pad token pads with its EOS token (logged once per expert).
- An empty answer is kept as the empty string and counted; the reward model scores it like any answer.
"""

from __future__ import annotations

import logging
import time

import lightning as L
import pandas as pd
import torch
from omegaconf import DictConfig, OmegaConf

from rewardroute.data.matrix import DataError
from rewardroute.experts.models import Recorded
from rewardroute.experts.prompts import CHAT, render
from rewardroute.pipeline.artifacts import Artifact
from rewardroute.pipeline.ddp import distributed
from rewardroute.pipeline.sharded import finish, run_sharded

log = logging.getLogger(__name__)


class GenerateModule(L.LightningModule):
    def __init__(self, name: str, model, tokenizer, prompt: str, context: int, generation: dict, seed: int):
        super().__init__()
        self.model, self.tokenizer, self.prompt = model, tokenizer, prompt
        self.generation, self.seed = generation, seed
        if tokenizer.pad_token is None:
            log.warning("expert %s: the tokenizer has no pad token; padding with its EOS token", name)
            tokenizer.pad_token = tokenizer.eos_token
        tokenizer.padding_side, tokenizer.truncation_side = "left", "left"
        self.budget = context - generation["max_new_tokens"]
        if self.budget < 1:
            raise ValueError(f"max_new_tokens={generation['max_new_tokens']} leaves no room in a context of {context}")
        # a chat template writes the BOS text itself; a format string gets the BOS the tokenizer would add (Llama-2
        # answers worse without it), without the other special tokens some tokenizers append
        adds_bos = tokenizer.bos_token_id is not None and tokenizer("a")["input_ids"][:1] == [tokenizer.bos_token_id]
        self.bos = tokenizer.bos_token if prompt != CHAT and adds_bos else ""
        # the model's own stop tokens (an end-of-turn token) as well as the tokenizer's EOS
        stops = model.generation_config.eos_token_id
        self.stops = sorted({tokenizer.eos_token_id, *(stops if isinstance(stops, list) else [stops])} - {None})

    def collate(self, items: list[dict]) -> dict:
        prompts = [self.bos + render(self.prompt, it["query"], self.tokenizer, it.get("history", ())) for it in items]
        full = self.tokenizer(prompts, add_special_tokens=False)["input_ids"]
        batch = self.tokenizer(prompts, add_special_tokens=False, truncation=True, max_length=self.budget,
                               padding=True, return_tensors="pt")
        return {**batch, "truncated": [len(ids) > self.budget for ids in full]}

    def predict_step(self, batch: dict, batch_idx: int) -> list[dict]:
        torch.manual_seed(self.seed * 1_000_003 + batch["batch_id"])  # the same samples however the run resumes
        out = self.model.generate(
            input_ids=batch["input_ids"], attention_mask=batch["attention_mask"],
            pad_token_id=self.tokenizer.pad_token_id, eos_token_id=self.stops, **self.generation,
        )
        new = out[:, batch["input_ids"].shape[1]:]
        texts = self.tokenizer.batch_decode(new, skip_special_tokens=True)
        stop = torch.isin(new, torch.tensor(self.stops, device=new.device))
        done = stop.int().cumsum(1)
        counts = ((done == 0) | ((done == 1) & stop)).sum(1)  # up to the first stop token, with it
        # only trailing space goes: a completion's first line keeps its indent (HumanEval continues a function)
        return [{"response": t.rstrip(), "new_tokens": int(n), "truncated": tr}
                for t, n, tr in zip(texts, counts.tolist(), batch["truncated"])]


def queries_spec(queries: pd.DataFrame, columns: tuple[str, ...] = ("turns",)) -> dict:
    """What a cache key holds of the queries: their ids and text, and those of `columns` they have (the later
    turns of a conversation, by default, which are asked too)."""
    from rewardroute.cache import content_hash

    spec = {"queries": content_hash(queries["query_id"].tolist(), queries["query"].tolist()), "n": len(queries)}
    for column in columns:
        if column in queries.columns:
            spec[column] = content_hash([v.tolist() if hasattr(v, "tolist") else v for v in queries[column]])
    return spec


def generation_settings(cfg: DictConfig, overrides: dict | None = None) -> dict:
    """expert_pool.generation with `overrides` (a benchmark's `generation`, e.g. greedy) over it."""
    settings = OmegaConf.to_container(cfg.expert_pool.generation)
    unknown = sorted(set(overrides or {}) - set(settings))
    if unknown:
        raise ValueError(f"benchmark.generation: unknown keys {unknown}; the settings are {sorted(settings)}")
    settings.update(overrides or {})
    if not settings["do_sample"]:  # greedy: sampling settings would only draw transformers' warnings
        settings = {k: v for k, v in settings.items() if k not in ("temperature", "top_p")}
    return settings


def generate(cfg: DictConfig, queries: pd.DataFrame, name: str, overrides: dict | None = None
             ) -> tuple[Artifact, pd.DataFrame]:
    """One expert's answers to the queries: query_id, response, new_tokens, truncated (cached artifact).
    `overrides`: generation settings over the pool's (see generation_settings)."""
    from hydra.utils import instantiate

    expert = instantiate(cfg.expert_pool.experts[name])
    generation = generation_settings(cfg, overrides)
    spec = {**queries_spec(queries), "expert": expert.spec()}
    if not isinstance(expert, Recorded):
        spec.update(generation=generation, seed=cfg.expert_pool.seed, precision=str(cfg.trainer.precision))
    artifact = Artifact("generate", spec, cfg.paths.artifact_dir)
    with artifact.claimed(distributed(cfg)):
        if not artifact.exists():
            build_answers(cfg, queries, name, expert, artifact, generation)
    return artifact, artifact.load()


def second_turns(cfg, queries: pd.DataFrame, rows: pd.DataFrame, build, artifact: Artifact, name: str) -> list:
    """Answers to the second turn of multi-turn queries, asked after the first exchange (None elsewhere)."""
    multi = [i for i, turns in enumerate(queries["turns"]) if turns is not None and len(turns) > 1]
    items = [{"query": queries["turns"].iloc[i][1],
              "history": [(queries["turns"].iloc[i][0], rows["response"].iloc[i])]} for i in multi]
    out = [None] * len(queries)
    if items:
        answers = run_sharded(items, [len(it["query"]) + len(it["history"][0][1]) for it in items],
                              cfg.expert_pool.batch_size, build, artifact.parts / "turn2", cfg.trainer,
                              desc=f"generate {name}, turn 2")
        for i, answer in zip(multi, answers):
            out[i] = answer["response"]
    return out


def build_answers(cfg: DictConfig, queries: pd.DataFrame, name: str, expert, artifact: Artifact,
                  generation: dict) -> None:
    started = time.time()
    if isinstance(expert, Recorded):
        answers = expert.responses()
        missing = [q for q in queries["query_id"] if q not in answers]
        if missing:
            raise DataError(f"expert_pool.experts.{name}: {expert.path} has no answer of {expert.model!r} to "
                            f"{len(missing)} queries, e.g. {missing[:3]}")
        # recorded answers come without token counts: NaN, not a made-up number
        rows = pd.DataFrame({"query_id": queries["query_id"], "response": [answers[q] for q in queries["query_id"]],
                             "new_tokens": float("nan"), "truncated": False})
    else:
        def build():
            model, tokenizer = expert.load()
            log.info("generate: loaded %s for expert %s", expert.model, name)
            return GenerateModule(name, model, tokenizer, expert.prompt, expert.context(model), generation, cfg.expert_pool.seed)

        items = queries[["query_id", "query"]].to_dict("records")
        outputs = run_sharded(items, [len(q) for q in queries["query"]], cfg.expert_pool.batch_size, build,
                              artifact.parts, cfg.trainer, desc=f"generate {name}")
        rows = pd.DataFrame({"query_id": queries["query_id"].tolist(), **pd.DataFrame(outputs).to_dict("list")})
        if "turns" in queries.columns:
            rows["response_turn2"] = second_turns(cfg, queries, rows, build, artifact, name)
    empty, truncated = int((rows["response"] == "").sum()), int(rows["truncated"].sum())
    for count, what in ((empty, "empty answers"), (truncated, "prompts cut to fit the context")):
        if count:
            log.warning("generate %s: %d %s", name, count, what)
    finish(artifact, rows, started, label=f"answers of {name}", empty_answers=empty, truncated_prompts=truncated)
