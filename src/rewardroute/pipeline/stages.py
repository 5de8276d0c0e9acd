"""The upstream stages as tasks of their own: `task=generate`, `task=score`, `task=tag`, and `task=artifacts`
(what the artifact store holds). Each stage reuses what is already computed for the same config subtree."""

from __future__ import annotations

import logging

import pandas as pd
from omegaconf import DictConfig

log = logging.getLogger(__name__)


def _queries(cfg: DictConfig, tags: bool = False) -> pd.DataFrame:
    from hydra.utils import instantiate

    from rewardroute.pipeline.upstream import stage_queries, used_subsets

    queries = instantiate(cfg.data.source)
    if "expert" in queries.columns:  # a response table: its queries, once each
        queries = queries.drop(columns=["expert", "score", "metric"], errors="ignore")
    return stage_queries(cfg, used_subsets(cfg, queries), tag_them=tags)


def _summary(title: str, rows: list[dict]) -> None:
    from rewardroute.evaluation.report import markdown_table

    print(f"\n## {title}\n\n" + markdown_table(pd.DataFrame(rows).set_index("expert"), ".3f", index_name="expert"))


def generate_task(cfg: DictConfig) -> list[str]:
    """Every expert of the pool answers every query of the data."""
    from rewardroute.experts.generation import generate
    from rewardroute.pipeline.upstream import check_stage_configs

    check_stage_configs(cfg, ["expert_pool"])
    queries = _queries(cfg)
    rows = []
    for name in cfg.expert_pool.experts:
        artifact, answers = generate(cfg, queries, name)
        meta = artifact.meta() if artifact.exists() else {}
        rows.append({"expert": name, "answers": len(answers), "mean_new_tokens": answers["new_tokens"].mean(),
                     "empty": meta.get("empty_answers"), "cut_prompts": meta.get("truncated_prompts"),
                     "artifact": str(artifact.path)})
    _summary(f"Answers of {cfg.expert_pool.name}", rows)
    return [r["artifact"] for r in rows]


def score_task(cfg: DictConfig) -> None:
    """Every expert answers (reusing the generate stage), the reward model scores, and the judge too if set."""
    from rewardroute.experts.generation import generate
    from rewardroute.pipeline.upstream import check_stage_configs
    from rewardroute.rewards.scoring import score

    check_stage_configs(cfg, ["expert_pool", "reward_model"])
    queries = _queries(cfg)
    rows = []
    for name in cfg.expert_pool.experts:
        answers = generate(cfg, queries, name)
        row = {"expert": name, "mean_reward": score(cfg, cfg.reward_model, "score", queries, name, answers)["reward"].mean()}
        if cfg.judge is not None:
            row["mean_judge"] = score(cfg, cfg.judge, "judge", queries, name, answers)["reward"].mean()
        rows.append(row)
    _summary(f"Scores of {cfg.expert_pool.name} by {cfg.reward_model.name}", rows)


def tag_task(cfg: DictConfig) -> None:
    from collections import Counter

    from rewardroute.pipeline.upstream import check_stage_configs

    check_stage_configs(cfg, ["tagger"])
    queries = _queries(cfg, tags=True)
    counts = Counter(t for tags in queries["tags"] for t in tags)
    untagged = int(queries["tags"].map(len).eq(0).sum())
    print(f"\n{len(queries)} queries, {len(counts)} tags, {untagged} without a tag; most frequent:")
    for t, c in counts.most_common(20):
        print(f"  {c:6d}  {t}")


def artifacts_task(cfg: DictConfig) -> None:
    from rewardroute.evaluation.report import markdown_table
    from rewardroute.pipeline.artifacts import list_artifacts

    metas = list_artifacts(cfg.paths.artifact_dir)
    if not metas:
        print(f"no artifacts under {cfg.paths.artifact_dir}")
        return
    rows = pd.DataFrame([{"stage": m["stage"], "key": m["key"], "what": m.get("label", ""), "rows": m["rows"],
                          "created": m["created"], "seconds": m["seconds"], "from": describe(m["spec"])}
                         for m in metas]).set_index("stage")
    print(f"\n{len(metas)} artifacts under {cfg.paths.artifact_dir}\n\n" + markdown_table(rows, ".1f", index_name="stage"))


def describe(spec: dict) -> str:
    """A one-line account of what an artifact came from."""
    parts = []
    for key in ("expert", "scorer", "tagger"):
        if key in spec:
            item = spec[key]
            parts.append(f"{item['kind']} {item.get('model') or item.get('lm', {}).get('model') or item.get('path', '')}")
    if "answers" in spec:
        parts.append(f"answers {spec['answers']}")
    if "queries" in spec:
        parts.append(f"{spec.get('n', '?')} queries {spec['queries']}")  # no n in stores from before it was kept
    return ", ".join(parts)
