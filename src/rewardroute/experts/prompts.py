"""How a query becomes an expert's prompt: a format string with {query}, or "chat" for the tokenizer's own
chat template (user turn, then the assistant cue). Earlier turns of a conversation (MT-Bench's second turn)
come first: as chat messages, or each earlier query formatted and followed by its answer."""

from __future__ import annotations

CHAT = "chat"


def render(prompt: str, query: str, tokenizer=None, history: list[tuple[str, str]] = ()) -> str:
    """The prompt for `query`, after the (user, assistant) turns of `history`."""
    if prompt == CHAT:
        if tokenizer is None or not getattr(tokenizer, "chat_template", None):
            raise ValueError("prompt: chat needs a tokenizer with a chat template; give a format string with {query}")
        messages = [m for user, answer in history for m in ({"role": "user", "content": user},
                                                              {"role": "assistant", "content": answer})]
        return tokenizer.apply_chat_template(messages + [{"role": "user", "content": query}], tokenize=False,
                                             add_generation_prompt=True)
    if "{query}" not in prompt:
        raise ValueError(f"prompt {prompt!r} has no {{query}} placeholder")
    earlier = "".join(f"{prompt.replace('{query}', user)} {answer}\n" for user, answer in history)
    return earlier + prompt.replace("{query}", query)
