"""A judge backend: any OpenAI-compatible chat-completions endpoint (OpenAI, vLLM, TGI, llama.cpp, SGLang, ...)
given by URL, asked with the standard library's HTTP client.

`url` is the API base (`http://localhost:8000/v1`; `/chat/completions` is appended unless given). The API key
is read from the environment variable `api_key_env` (none is sent when it is unset: a local server needs none).
Greedy by default (temperature 0). Connection errors, timeouts and the answers 408, 409, 429, 500, 502, 503
and 504 are retried with exponential backoff; other errors, or the last retry failing, stop the run with the
URL and the reason. Each reply is kept in `parts_dir/<key>` as it arrives, so a stopped run asks only the rest.
"""

from __future__ import annotations

import http.client
import json
import logging
import os
import shutil
import threading
import time
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass
from pathlib import Path

log = logging.getLogger(__name__)
RETRIED_STATUS = (408, 409, 429, 500, 502, 503, 504)


class EndpointError(RuntimeError):
    pass


@dataclass
class Endpoint:
    url: str
    model: str  # the model name the server knows
    api_key_env: str | None = "OPENAI_API_KEY"
    max_tokens: int = 1024
    temperature: float = 0.0
    timeout: float = 120.0  # seconds per request
    retries: int = 5  # attempts after the first
    backoff: float = 2.0  # seconds before the first retry, doubled after each
    workers: int = 4  # requests in flight
    parts_dir: str | None = None  # where replies wait until all are in (None: kept in memory only, no resume)

    def spec(self) -> dict:
        return {"kind": "Endpoint", "url": self.url, "model": self.model, "max_tokens": self.max_tokens,
                "temperature": self.temperature}

    @property
    def address(self) -> str:
        base = self.url.rstrip("/")
        return base if base.endswith("/chat/completions") else f"{base}/chat/completions"

    def complete(self, asks: list[tuple[str, str]]) -> list[str | None]:
        from rewardroute.cache import content_hash

        key = os.environ.get(self.api_key_env) if self.api_key_env else None
        if self.api_key_env and key is None:
            log.info("judge endpoint %s: $%s is not set; asking without an API key", self.address, self.api_key_env)
        kept = Path(self.parts_dir) / content_hash(self.spec(), asks) / "replies.jsonl" if self.parts_dir else None
        replies = read_replies(kept)
        if kept is not None:
            kept.parent.mkdir(parents=True, exist_ok=True)
        if replies:
            log.info("judge endpoint %s: %d of %d replies kept from an earlier run", self.address, len(replies), len(asks))
        lock = threading.Lock()

        def ask_and_keep(i: int) -> None:
            reply = self.ask(asks[i], key)
            with lock:
                replies[i] = reply
                if kept is not None:
                    with kept.open("a") as f:  # a line of its own, even after one a kill cut short
                        f.write("\n" + json.dumps({"i": i, "reply": reply}) + "\n")

        failure = None
        with ThreadPoolExecutor(max_workers=self.workers) as pool:
            futures = [pool.submit(ask_and_keep, i) for i in range(len(asks)) if i not in replies]
            for future in as_completed(futures):
                if future.exception() is not None:  # stop asking; the asks in flight finish and are kept
                    failure = future.exception()
                    pool.shutdown(wait=True, cancel_futures=True)
                    break
        if isinstance(failure, EndpointError):
            fate = f"kept in {kept.parent}: run again to ask only the rest" if kept else "lost (no parts_dir set)"
            raise EndpointError(f"{failure}; the {len(replies)} of {len(asks)} replies received are {fate}") from None
        if failure is not None:
            raise failure
        if kept is not None:
            shutil.rmtree(kept.parent, ignore_errors=True)
        return [replies[i] for i in range(len(asks))]

    def ask(self, ask: tuple[str, str], key: str | None) -> str:
        system, user = ask
        messages = ([{"role": "system", "content": system}] if system else []) + [{"role": "user", "content": user}]
        body = json.dumps({"model": self.model, "messages": messages, "max_tokens": self.max_tokens,
                           "temperature": self.temperature}).encode()
        headers = {"Content-Type": "application/json", **({"Authorization": f"Bearer {key}"} if key else {})}
        for attempt in range(self.retries + 1):
            try:
                request = urllib.request.Request(self.address, data=body, headers=headers, method="POST")
                with urllib.request.urlopen(request, timeout=self.timeout) as response:
                    return self.content(response.read())
            except urllib.error.HTTPError as e:
                reason = f"HTTP {e.code}: {e.read()[:300].decode(errors='replace')}"
                if e.code not in RETRIED_STATUS:
                    raise EndpointError(f"judge endpoint {self.address}: {reason}") from None
            except (urllib.error.URLError, TimeoutError, ConnectionError, http.client.HTTPException) as e:
                reason = f"{type(e).__name__}: {getattr(e, 'reason', e)}"
            if attempt < self.retries:
                log.warning("judge endpoint %s: %s; retrying in %.1f s", self.address, reason, self.backoff * 2**attempt)
                time.sleep(self.backoff * 2**attempt)
        raise EndpointError(f"judge endpoint {self.address}: {reason} (gave up after {self.retries + 1} attempts)")

    def content(self, raw: bytes) -> str:
        try:
            return json.loads(raw)["choices"][0]["message"]["content"] or ""
        except (ValueError, KeyError, IndexError, TypeError):
            raise EndpointError(f"judge endpoint {self.address}: not a chat-completions reply: {raw[:300]!r}") from None


def read_replies(path: Path | None) -> dict[int, str]:
    """The replies an earlier run kept, by ask index (a line cut short by a kill is skipped)."""
    replies = {}
    for line in path.read_text().splitlines() if path is not None and path.is_file() else []:
        if not line:
            continue
        try:
            record = json.loads(line)
        except ValueError:
            continue
        replies[record["i"]] = record["reply"]
    return replies
