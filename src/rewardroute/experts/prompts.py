"""How a query becomes an expert's prompt: a format string with {query}, or "chat" for the tokenizer's own
chat template (one user turn, then the assistant cue)."""

from __future__ import annotations

CHAT = "chat"


def render(prompt: str, query: str, tokenizer=None) -> str:
    if prompt == CHAT:
        if tokenizer is None or not getattr(tokenizer, "chat_template", None):
            raise ValueError("prompt: chat needs a tokenizer with a chat template; give a format string with {query}")
        return tokenizer.apply_chat_template([{"role": "user", "content": query}], tokenize=False,
                                             add_generation_prompt=True)
    if "{query}" not in prompt:
        raise ValueError(f"prompt {prompt!r} has no {{query}} placeholder")
    return prompt.replace("{query}", query)
