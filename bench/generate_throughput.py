"""The generate stage against per-query `generate` calls, on the same tiny causal LM and the same prompts.

Ours: rewardroute's generate stage core (Lightning predict loop, length-sorted left-padded batches).
Naive: one `model.generate` call per prompt. Both sample with the pool's settings for up to --new-tokens tokens.
Prints as its last line {"ratio": ours/naive new tokens per second (medians over alternating rounds), ...} and
writes outputs/bench/generate_throughput.json.

    python bench/generate_throughput.py [--prompts 256] [--batch-size 32] [--new-tokens 32] [--hidden 256] [--rounds 3]
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

import torch
from common import alternate, record, timed

from rewardroute.data.synthetic import sample_texts
from rewardroute.experts.generation import GenerateModule
from rewardroute.experts.models import TinyCausalLM
from rewardroute.experts.prompts import render
from rewardroute.main import compose_config
from rewardroute.pipeline.sharded import run_sharded
from rewardroute.schema import PROJECT_ROOT


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--prompts", type=int, default=256)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--new-tokens", type=int, default=32)
    parser.add_argument("--hidden", type=int, default=256)
    parser.add_argument("--layers", type=int, default=4)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()

    expert = TinyCausalLM(seed=0, hidden_size=args.hidden, num_layers=args.layers, max_context=512)
    model, tokenizer = expert.load()
    generation = {"max_new_tokens": args.new_tokens, "do_sample": True, "temperature": 0.7, "top_p": 1.0}
    queries = sample_texts(args.prompts)[: args.prompts]
    items = [{"query": q} for q in queries]
    trainer_cfg = compose_config([], str(PROJECT_ROOT / "outputs" / "bench" / "generate")).trainer

    def ours() -> float:
        with tempfile.TemporaryDirectory() as parts:
            out = run_sharded(items, [len(q) for q in queries], args.batch_size,
                              lambda: GenerateModule("tiny", model, tokenizer, expert.prompt, 512, generation, 0),
                              Path(parts), trainer_cfg, desc="generate stage")
        return sum(o["new_tokens"] for o in out)

    @torch.inference_mode()
    def naive() -> float:
        tokens = 0
        for q in queries:
            ids = tokenizer(render(expert.prompt, q, tokenizer), return_tensors="pt", add_special_tokens=False)
            out = model.generate(**ids, pad_token_id=tokenizer.pad_token_id, eos_token_id=tokenizer.eos_token_id,
                                 **generation)
            new = out[0, ids["input_ids"].shape[1]:]
            hit = (new == tokenizer.eos_token_id).nonzero()
            tokens += int(hit[0, 0]) + 1 if len(hit) else len(new)
        return tokens

    rates = alternate({"ours": timed(ours), "naive": timed(naive)}, args.rounds)
    record("generate_throughput", rates["ours"], rates["naive"], unit="new tokens", prompts=len(queries),
           batch_size=args.batch_size, max_new_tokens=args.new_tokens,
           model=f"tiny Llama, hidden {args.hidden}, {args.layers} layers, "
                 f"{sum(p.numel() for p in model.parameters()) / 1e6:.1f}M parameters",
           device="cpu", threads=torch.get_num_threads())


if __name__ == "__main__":
    main()
