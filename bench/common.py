"""What the benchmarks share: rounds that alternate between the contenders (this machine is noisy: whatever
slows one round slows both sides of it), medians, and the JSON record."""

from __future__ import annotations

import json
import statistics
import time
from typing import Callable

from rewardroute.schema import PROJECT_ROOT


def alternate(contenders: dict[str, Callable[[], float]], rounds: int) -> dict[str, list[float]]:
    """Run each contender once per round, in alternating order; each returns its rate (units per second)."""
    rates: dict[str, list[float]] = {name: [] for name in contenders}
    names = list(contenders)
    for r in range(rounds):
        for name in names if r % 2 == 0 else names[::-1]:
            rates[name].append(contenders[name]())
            print(f"round {r}: {name:9s} {rates[name][-1]:.2f}/s", flush=True)
    return rates


def timed(work: Callable[[], float]) -> Callable[[], float]:
    """A contender from `work`, which does the work and returns how many units it did."""

    def run() -> float:
        start = time.perf_counter()
        units = work()
        return units / (time.perf_counter() - start)

    return run


def record(name: str, ours: list[float], baseline: list[float], **extra) -> dict:
    """Print and write outputs/bench/<name>.json: medians, their ratio (ours / baseline), every round."""
    result = {"ratio": round(statistics.median(ours) / statistics.median(baseline), 3),
              "ours_per_s": round(statistics.median(ours), 2), "baseline_per_s": round(statistics.median(baseline), 2),
              **extra, "rounds": {"ours": [round(x, 2) for x in ours], "baseline": [round(x, 2) for x in baseline]}}
    out = PROJECT_ROOT / "outputs" / "bench" / f"{name}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result))
    return result
