"""A tiny causal LM with random weights and a locally built word-level tokenizer with a chat template."""

from __future__ import annotations

from functools import lru_cache

CHAT_TEMPLATE = (
    "{% for m in messages %}<|{{ m['role'] }}|> {{ m['content'] }}\n{% endfor %}"
    "{% if add_generation_prompt %}<|assistant|> {% endif %}"
)


@lru_cache(maxsize=8)
def lm_tokenizer(vocab_size: int = 400, pad_token: bool = True):
    """A word-level tokenizer over the synthetic benchmark's text, with EOS, a chat template and (optionally) a
    pad token: offline and the same in every process."""
    from rewardroute.data.synthetic import sample_texts
    from rewardroute.local_tokenizers import word_tokenizer

    specials = {"unk_token": "<unk>", "eos_token": "<eos>", **({"pad_token": "<pad>"} if pad_token else {})}
    corpus = sample_texts() + ["<|user|> <|assistant|>"]
    return word_tokenizer(corpus, vocab_size, specials, chat_template=CHAT_TEMPLATE)


def tiny_causal_lm(seed: int, hidden_size: int, num_layers: int, vocab_size: int, max_context: int, pad_token: bool):
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    tokenizer = lm_tokenizer(vocab_size, pad_token)
    config = LlamaConfig(
        vocab_size=len(tokenizer), hidden_size=hidden_size, intermediate_size=2 * hidden_size,
        num_hidden_layers=num_layers, num_attention_heads=2, num_key_value_heads=2,
        max_position_embeddings=max_context, eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id if pad_token else None,
    )
    with torch.random.fork_rng():
        torch.manual_seed(seed)
        model = LlamaForCausalLM(config)
    return model.eval(), tokenizer
