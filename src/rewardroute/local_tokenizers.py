"""Tokenizers built offline from a corpus, for the tiny models of tests and dry runs.

Word-level on purpose: the vocabulary is the most frequent words (ties by alphabet), so the same corpus gives
the same tokenizer in every process. (The `tokenizers` WordPiece and BPE trainers break ties by hash-map order,
which changes from process to process: cached token ids would then belong to another vocabulary.)
"""

from __future__ import annotations

from collections import Counter


def word_tokenizer(corpus: list[str], vocab_size: int, specials: dict[str, str], template: str | None = None,
                   chat_template: str | None = None, punctuation: bool = True):
    """A fast tokenizer over the `vocab_size` most frequent lower-cased words and punctuation marks of `corpus`
    (without `punctuation`: runs of word characters alone, so `has_close_elements` stays one word; Chinese
    characters are words one by one either way). `specials` maps roles (pad_token, unk_token, ...) to token
    strings; `template` is a TemplateProcessing single-sequence template such as "[CLS] $A [SEP]"."""
    from tokenizers import Regex, Tokenizer, models, normalizers, pre_tokenizers, processors
    from transformers import PreTrainedTokenizerFast

    normalizer = normalizers.BertNormalizer(lowercase=True)
    pre = pre_tokenizers.BertPreTokenizer() if punctuation else pre_tokenizers.Split(Regex(r"\W+"), behavior="removed")
    counts = Counter(word for text in corpus for word, _ in pre.pre_tokenize_str(normalizer.normalize_str(text)))
    tokens = list(dict.fromkeys(specials.values()))
    words = sorted(counts, key=lambda w: (-counts[w], w))[: max(0, vocab_size - len(tokens))]
    tok = Tokenizer(models.WordLevel({t: i for i, t in enumerate(tokens + words)}, unk_token=specials["unk_token"]))
    tok.normalizer, tok.pre_tokenizer = normalizer, pre
    if template:
        used = [t for t in tokens if t in template]
        tok.post_processor = processors.TemplateProcessing(single=template, special_tokens=[(t, tokens.index(t)) for t in used])
    return PreTrainedTokenizerFast(tokenizer_object=tok, chat_template=chat_template, **specials)
