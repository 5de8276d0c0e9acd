"""An InsTag-style tagger: a causal LM prompted to return the query's intention tags as JSON, and a parser that
survives malformed output (a failure is counted, never guessed)."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass

from rewardroute.experts.models import CausalLM

INSTAG_PROMPT = (
    "You are a helpful assistant. Please identify tags of user intentions in the following user query and provide "
    'an explanation for each tag. Please respond in the JSON format {"tag": str, "explanation": str}.\n'
    "Query: {query}\nAssistant:"
)
TAG_FIELD = re.compile(r'"tag"\s*:\s*"((?:[^"\\]|\\.)*)"')


@dataclass
class InsTagger:
    """A tagging LM (any expert definition, e.g. CausalLM or TinyCausalLM) prompted for JSON objects with a
    "tag" field, decoded greedily."""

    lm: CausalLM
    prompt: str = INSTAG_PROMPT
    max_new_tokens: int = 128

    def spec(self) -> dict:
        return {"kind": "InsTagger", "lm": self.lm.spec(), "prompt": self.prompt, "max_new_tokens": self.max_new_tokens}


def unescaped(field: str) -> str:
    """A JSON string's content with its escapes read; as written where they are not JSON's (`\\d`, `C:\\Users`)."""
    try:
        return json.loads(f'"{field}"')
    except json.JSONDecodeError:
        return field.replace('\\"', '"')


def parse_tags(text: str) -> list[str] | None:
    """The tags in a tagger's output, lower-cased and de-duplicated, or None when there are none to be found.
    Reads a JSON list or object first; falls back to every `"tag": "..."` field (truncated or invalid JSON)."""
    tags: list[str] = []
    start = min((i for i in (text.find("["), text.find("{")) if i >= 0), default=-1)
    if start >= 0:
        try:
            parsed, _ = json.JSONDecoder().raw_decode(text[start:])
            items = parsed if isinstance(parsed, list) else [parsed]
            tags = [str(it["tag"]) for it in items if isinstance(it, dict) and isinstance(it.get("tag"), str)]
        except json.JSONDecodeError:
            pass
    if not tags:
        tags = [unescaped(t) for t in TAG_FIELD.findall(text)]
    tags = list(dict.fromkeys(t.strip().lower() for t in tags if t.strip()))
    return tags or None
