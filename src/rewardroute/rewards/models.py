"""Scorer definitions (the `model` of a reward_model or judge config). Each is a small dataclass whose fields
are its config and, hashed, part of the key of its scores in the artifact store.

- SequenceClassifier: a Hugging Face sequence-classification reward model (hub id or path) with its input format.
- Tiny: a small BERT reward model with random weights (seeded) and a tokenizer built offline, for tests.
- Recorded: scores read from a jsonl file, e.g. AlpacaEval's GPT-4 judgements, no model at all.
- Trained: a reward model trained by this project (task=train_rm: single, MoRE, RODOS, ARLISS).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

from rewardroute.data.jsonl import recorded_values
from rewardroute.data.matrix import DataError, is_number


@dataclass
class SequenceClassifier:
    model: str
    # "pair": the tokenizer's text pair (query, answer), as OpenAssistant's reward models expect; "chat": the
    # tokenizer's chat template over a user and an assistant turn; else a format string with {query} and {answer}
    format: str = "pair"
    score_index: int | None = None  # which logit is the reward, for a model with more than one label
    dtype: str = "auto"
    trust_remote_code: bool = False

    def spec(self) -> dict:
        from rewardroute.cache import model_version

        return {"kind": type(self).__name__, **asdict(self), **model_version(self.model)}  # retrained in place: new

    def load(self):
        from transformers import AutoModelForSequenceClassification, AutoTokenizer

        tokenizer = AutoTokenizer.from_pretrained(self.model, trust_remote_code=self.trust_remote_code)
        model = AutoModelForSequenceClassification.from_pretrained(
            self.model, dtype=self.dtype, trust_remote_code=self.trust_remote_code
        )
        return model, tokenizer

    def score_module(self, scorer_cfg):
        """The score stage's LightningModule over this model (rewards/scoring.py)."""
        from rewardroute.rewards.scoring import ScoreModule

        model, tokenizer = self.load()
        return ScoreModule(scorer_cfg.name, model, tokenizer, self.format, scorer_cfg.max_length, self.score_index)


@dataclass
class Tiny(SequenceClassifier):
    model: str = "tiny"
    seed: int = 0
    hidden_size: int = 32
    num_layers: int = 2
    init_std: float = 0.2  # wider than BERT's 0.02, so that random scores spread over answers

    def spec(self) -> dict:
        return {"kind": type(self).__name__, **asdict(self)}  # built here: no model files to version

    def load(self):
        import torch
        from transformers import BertConfig, BertForSequenceClassification

        from rewardroute.data.synthetic import sample_texts
        from rewardroute.routers.backbones import bert_tokenizer

        tokenizer = bert_tokenizer(sample_texts(), vocab_size=500)
        config = BertConfig(vocab_size=len(tokenizer), hidden_size=self.hidden_size, num_hidden_layers=self.num_layers,
                            num_attention_heads=2, intermediate_size=2 * self.hidden_size, num_labels=1,
                            max_position_embeddings=512, pad_token_id=tokenizer.pad_token_id,
                            initializer_range=self.init_std)
        with torch.random.fork_rng():
            torch.manual_seed(self.seed)
            model = BertForSequenceClassification(config)
        return model.eval(), tokenizer


@dataclass
class Recorded:
    path: str
    model_field: str = "model"
    score_field: str = "score"

    def spec(self) -> dict:
        from rewardroute.cache import recorded_spec

        return recorded_spec(self)

    def scores(self, expert: str) -> dict[str, float | None]:
        """{query_id: score} of one expert, by its name in the file."""
        scores = recorded_values(self.path, self.model_field, expert, self.score_field,
                                 lambda v: v is None or is_number(v), "a finite number, or null for an unknown score")
        if not scores:
            raise DataError(f"{self.path}: no scores of {expert!r} ({self.model_field} field); a generating expert's "
                            "name in the pool, or a recorded one's model, must be its name in this file")
        return scores



@dataclass
class Trained:
    """A reward model trained here: the run folder of task=train_rm (or its reward_model/ folder). Its scores
    are cached under its weights' fingerprint, not its path: retraining invalidates them, moving it does not."""

    checkpoint: str

    def spec(self) -> dict:
        from rewardroute.reward_models.trained import saved_folder

        meta = saved_folder(self.checkpoint)[1]
        return {"kind": "Trained", "target": meta["target"], "fingerprint": meta["fingerprint"]}

    def score_module(self, scorer_cfg):
        from rewardroute.reward_models import load_trained
        from rewardroute.rewards.scoring import TrainedScoreModule

        return TrainedScoreModule(load_trained(self.checkpoint), scorer_cfg.max_length)
