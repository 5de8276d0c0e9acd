"""Expert definitions (the `experts` of an expert_pool config). Each is a small dataclass: its fields are its
config and, hashed, part of the key of its answers in the artifact store.

- CausalLM: any Hugging Face causal LM by hub id or path, with its prompt format.
- TinyCausalLM: a small Llama with random weights (seeded) and a byte-level BPE tokenizer trained on built-in
  text: no files, no network, for tests and dry runs.
- Recorded: answers read from a jsonl file (e.g. AlpacaEval's model outputs), no model at all.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

from rewardroute.data.jsonl import recorded_values
from rewardroute.data.matrix import DataError


@dataclass
class CausalLM:
    model: str
    prompt: str = "chat"  # a format string with {query}, or "chat": the tokenizer's chat template
    dtype: str = "auto"  # torch dtype of the weights, e.g. bfloat16 on a GPU
    trust_remote_code: bool = False  # off unless a config turns it on for a model that needs its own code
    max_context: int | None = None  # prompt + answer tokens; default: the model's max_position_embeddings

    def spec(self) -> dict:
        from rewardroute.cache import model_version

        return {"kind": type(self).__name__, **asdict(self), **model_version(self.model)}  # retrained in place: new

    def load(self):
        from transformers import AutoModelForCausalLM, AutoTokenizer

        tokenizer = AutoTokenizer.from_pretrained(self.model, trust_remote_code=self.trust_remote_code)
        model = AutoModelForCausalLM.from_pretrained(self.model, dtype=self.dtype, trust_remote_code=self.trust_remote_code)
        return model, tokenizer

    def context(self, model) -> int:
        return self.max_context or getattr(model.config, "max_position_embeddings", 2048)


@dataclass
class TinyCausalLM(CausalLM):
    model: str = "tiny"
    seed: int = 0
    hidden_size: int = 32
    num_layers: int = 2
    vocab_size: int = 400
    max_context: int | None = 256
    pad_token: bool = True  # False builds a tokenizer without one (the stage then pads with EOS)

    def spec(self) -> dict:
        from rewardroute.cache import content_hash
        from rewardroute.experts.tiny import lm_tokenizer

        vocab = lm_tokenizer(self.vocab_size, self.pad_token).get_vocab()  # built here: no model files to version
        return {"kind": type(self).__name__, **asdict(self), "vocab": content_hash(sorted(vocab.items()))}

    def load(self):
        from rewardroute.experts.tiny import tiny_causal_lm

        return tiny_causal_lm(self.seed, self.hidden_size, self.num_layers, self.vocab_size, self.max_context,
                              self.pad_token)


@dataclass
class Recorded:
    path: str
    model: str  # the model's name in the file
    model_field: str = "model"
    response_field: str = "response"

    def spec(self) -> dict:
        from rewardroute.cache import recorded_spec

        return recorded_spec(self)

    def responses(self) -> dict[str, str]:
        """{query_id: answer} of this model; an error names the file if the model is not in it."""
        answers = recorded_values(self.path, self.model_field, self.model, self.response_field,
                                  lambda v: isinstance(v, str), 'a string ("" for an empty answer)')
        if not answers:
            raise DataError(f"{self.path}: no answers of model {self.model!r} ({self.model_field} field)")
        return answers
