"""The score stage: a reward model (or a judge) scores every expert's answers, as a Lightning predict loop
(batched by length, resumable, sharded over DDP ranks: see pipeline/sharded.py). bf16 on a GPU comes from the
trainer's precision (trainer=gpu) or the model's dtype.

Truncation: query and answer share `max_length` tokens. In the "pair" format the longer of the two loses tokens
first, from its start (the end of an answer, where it concludes, is kept longest); in the other formats the
whole text loses its start. Truncated inputs are counted in the artifact's metadata.

A model with more than one label needs `score_index` (which logit is the reward): never a silent guess.
"""

from __future__ import annotations

import logging
import time

import lightning as L
import pandas as pd
from omegaconf import DictConfig

from rewardroute.data.matrix import DataError
from rewardroute.experts.generation import queries_spec
from rewardroute.experts.models import Recorded as RecordedAnswers
from rewardroute.experts.prompts import CHAT
from rewardroute.pipeline.artifacts import Artifact
from rewardroute.pipeline.ddp import distributed
from rewardroute.pipeline.sharded import finish, run_sharded
from rewardroute.rewards.models import Recorded

log = logging.getLogger(__name__)

# the query columns evaluators read besides the query (rewardroute.evaluators)
EVALUATOR_INPUTS = ("reference", "test", "entry_point", "skills", "category", "turns")


class ScoreModule(L.LightningModule):
    def __init__(self, name: str, model, tokenizer, format: str, max_length: int, score_index: int | None):
        super().__init__()
        labels = model.config.num_labels
        if labels != 1 and score_index is None:
            raise ValueError(
                f"{name}: the model has {labels} labels ({getattr(model.config, 'id2label', {})}), a reward model gives "
                "one score: set model.score_index to the logit that means 'better'"
            )
        self.model, self.tokenizer, self.format = model, tokenizer, format
        self.max_length, self.index = max_length, score_index or 0
        tokenizer.truncation_side = "left"
        if tokenizer.pad_token is None:
            tokenizer.pad_token = tokenizer.eos_token
        # a sequence classifier reads its score at the last token that is not config.pad_token_id: it must be the
        # tokenizer's pad, or a decoder reward model fails on batches (None) or scores a short answer at a pad
        model.config.pad_token_id = tokenizer.pad_token_id
        self.special_tokens = format != CHAT  # a rendered chat template holds its BOS text already

    def texts(self, items: list[dict]) -> list[str]:
        if self.format == CHAT:
            return [self.tokenizer.apply_chat_template(
                [{"role": "user", "content": it["query"]}, {"role": "assistant", "content": it["answer"]}], tokenize=False)
                for it in items]
        return [self.format.replace("{query}", it["query"]).replace("{answer}", it["answer"]) for it in items]

    def collate(self, items: list[dict]) -> dict:
        if self.format == "pair":
            args = ([it["query"] for it in items], [it["answer"] for it in items])
            truncation = "longest_first"
        else:
            args, truncation = (self.texts(items),), True
        batch = self.tokenizer(*args, truncation=truncation, max_length=self.max_length, padding=True,
                               add_special_tokens=self.special_tokens, return_tensors="pt")
        return {**batch, "truncated": truncated(self.tokenizer, args, self.max_length, self.special_tokens)}

    def predict_step(self, batch: dict, batch_idx: int) -> list[dict]:
        inputs = {k: v for k, v in batch.items() if k in ("input_ids", "attention_mask", "token_type_ids")}
        return rows(self.model(**inputs).logits[:, self.index].float(), batch["truncated"])


class TrainedScoreModule(L.LightningModule):
    """A reward model trained here (task=train_rm, rewardroute.reward_models) in the score stage: the query and
    the answer as its prompt and response, within `max_length` tokens (the longer loses tokens first, from the
    side it was trained with); a routed architecture routes each query to a domain first."""

    def __init__(self, rm, max_length: int):
        from dataclasses import replace

        super().__init__()
        self.rm, self.model = rm, rm.module  # the module registered here, so Lightning moves it to the device
        rm.encoding = replace(rm.encoding, max_length=max_length)

    def collate(self, items: list[dict]) -> dict:
        args = ([it["query"] for it in items], [it["answer"] for it in items])
        return {**self.rm.batch(*self.rm.token_ids(*args)),
                "truncated": truncated(self.rm.tokenizer, args, self.rm.encoding.max_length)}

    def predict_step(self, batch: dict, batch_idx: int) -> list[dict]:
        return rows(self.rm.rewards(batch), batch["truncated"])


def truncated(tokenizer, args: tuple, max_length: int, add_special_tokens: bool = True) -> list[bool]:
    """Which inputs (texts, or text pairs) are longer than max_length tokens: counted in the artifact's metadata."""
    return [len(ids) > max_length for ids in tokenizer(*args, add_special_tokens=add_special_tokens)["input_ids"]]


def answered(queries: pd.DataFrame, answers: pd.DataFrame) -> pd.DataFrame:
    """The queries' rows in the order of the answers (by query_id)."""
    return queries.set_index("query_id").loc[answers["query_id"]].reset_index()


def rows(rewards, truncated: list[bool]) -> list[dict]:
    return [{"reward": r, "truncated": t} for r, t in zip(rewards.tolist(), truncated)]


def score(cfg: DictConfig, scorer_cfg: DictConfig, stage: str, queries: pd.DataFrame, expert: str,
          answers: tuple[Artifact, pd.DataFrame]) -> pd.DataFrame:
    """Rewards of one expert's answers: query_id, reward (cached artifact). `stage` is "score" or "judge". The
    scorer is a reward model (`score_module(scorer_cfg)`: the LightningModule that scores), recorded scores (`scores(expert)`) or an evaluator
    (`evaluate(queries, answers) -> list of float or None`, None for an answer it could not evaluate)."""
    from hydra.utils import instantiate

    scorer = instantiate(scorer_cfg.model)
    spec = {"answers": answers[0].key, "scorer": scorer.spec(), "max_length": scorer_cfg.max_length}
    if hasattr(scorer, "evaluate"):  # an evaluator also reads what the answers are judged against
        spec["judged_against"] = queries_spec(answered(queries, answers[1]), EVALUATOR_INPUTS)
    elif not isinstance(scorer, Recorded):  # a model scores: bf16 and fp32 give other rewards
        spec["precision"] = str(cfg.trainer.precision)
    artifact = Artifact(stage, spec, cfg.paths.artifact_dir)
    with artifact.claimed(distributed(cfg)):
        if not artifact.exists():
            build_scores(cfg, scorer_cfg, scorer, stage, queries, expert, answers[1], artifact)
    return artifact.load()


def build_scores(cfg, scorer_cfg, scorer, stage: str, queries: pd.DataFrame, expert: str, rows: pd.DataFrame,
                 artifact: Artifact) -> None:
    from hydra.utils import instantiate

    started = time.time()
    counts = {}
    if hasattr(scorer, "evaluate"):  # an evaluator (rewardroute.evaluators): rules, a sandbox or an LLM judge
        table = answered(queries, rows)
        second = rows["response_turn2"] if "response_turn2" in rows.columns else [None] * len(rows)
        answers = [[a, b] if isinstance(b, str) else a for a, b in zip(rows["response"], second)]  # both turns, where asked
        rows = pd.DataFrame({"query_id": rows["query_id"], "reward": scorer.evaluate(table, answers),
                             "truncated": False})
        counts = dict(getattr(scorer, "counts", {}))  # e.g. a judge's unrated replies
    elif isinstance(scorer, Recorded):
        # recorded answers are looked up under their name in the file, generated ones under their pool name
        answered_by = instantiate(cfg.expert_pool.experts[expert])
        name = answered_by.model if isinstance(answered_by, RecordedAnswers) else expert
        recorded = scorer.scores(name)
        missing = [q for q in rows["query_id"] if q not in recorded]
        if missing:  # a score of null is an unknown score (data.null_scores); no row at all is a gap in the file
            raise DataError(f"{scorer_cfg.name}: {scorer.path} has no {scorer.score_field!r} of {name!r} for "
                            f"{len(missing)} queries, e.g. {missing[:3]} (write null for an unknown score)")
        rows = pd.DataFrame({"query_id": rows["query_id"], "reward": [recorded[q] for q in rows["query_id"]],
                             "truncated": False})
    else:
        text = dict(zip(queries["query_id"], queries["query"]))
        items = [{"query": text[q], "answer": a} for q, a in zip(rows["query_id"], rows["response"])]

        def build():
            module = scorer.score_module(scorer_cfg)
            log.info("%s: loaded %s to score expert %s", stage, scorer_cfg.name, expert)
            return module

        outputs = run_sharded(items, [len(it["query"]) + len(it["answer"]) for it in items], scorer_cfg.batch_size,
                              build, artifact.parts, cfg.trainer, desc=f"{stage} {expert} with {scorer_cfg.name}")
        rows = pd.DataFrame({"query_id": rows["query_id"].tolist(), **pd.DataFrame(outputs).to_dict("list")})
    truncated = int(rows["truncated"].sum())
    if truncated:
        log.warning("%s %s: %d inputs cut to max_length=%d", stage, expert, truncated, scorer_cfg.max_length)
    finish(artifact, rows, started, label=f"{scorer_cfg.name} on {expert}", truncated_inputs=truncated, **counts)
