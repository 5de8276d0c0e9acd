"""Typed schema of the run config: a key that is not declared here is an error when Hydra composes.

Nodes that build an object (`data.source`, `router.module`, `router.backbone`, `router.optimizer`, the loggers)
are typed `Any` here; their keys are checked against the signature of their `_target_` when instantiated.
This module is imported before composition, so it stays free of heavy imports.
"""

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from omegaconf import MISSING, OmegaConf

PROJECT_ROOT = Path(__file__).resolve().parents[2]


@dataclass
class PathsConfig:
    root_dir: str = MISSING
    data_dir: str = MISSING  # the folder holding the real data sets (../shared/data beside the project)
    cache_dir: str = MISSING  # tokenised data sets and frozen-encoder embeddings, keyed by content hash
    artifact_dir: str = MISSING  # outputs of the generate / score / judge / tag stages, keyed by config hash
    output_dir: str = MISSING  # this run's Hydra directory


@dataclass
class DataConfig:
    name: str = MISSING
    source: Any = MISSING  # {_target_: a loader returning the long response table, ...its arguments}
    root: str | None = None  # the data folder, for sources that read files
    experts: list[str] | None = None  # keep only these experts (None: every expert in the data)
    subsets: list[str] | None = None  # keep only these subsets (None: all)
    groups: dict[str, list[str]] = field(default_factory=dict)  # report groups, e.g. {ID: [...], OOD: [...]}
    # Subsets without a train split borrow another subset's train split for the dataset oracle.
    proxy_train: dict[str, str] = field(default_factory=dict)
    reward: str = "score"  # what the router learns from: "score" (raw) or "metric" (the evaluation transform)
    null_scores: str = "fail"  # a query with a null score: "fail" (error naming the row) or "drop" (counted)
    test_fraction: float = 0.2  # seeded test split, only for data without splits of its own
    val_fraction: float = 0.1  # validation split carved from train (checkpoint and setting selection)
    split_seed: int = 0
    # k > 1: every query is test once, routed by a router trained on the other k-1 folds (for data without a
    # training set of its own); 0: the data's splits (or the seeded test split)
    cross_fit_folds: int = 0
    report_scale: float = 1.0  # multiplies the metric in reports (100: accuracy in %)
    drop_ties: bool = True  # preference pairs (task=train_rm): drop ties, else train them towards equal rewards


@dataclass
class LabelsConfig:
    kind: str = "soft"  # soft: softmax(reward / temperature); hard: one-hot argmax, tied best experts sharing it
    temperature: float = 1.0
    beta: float = 1.0  # tag enhancement s* = beta*s + (1-beta)*mean of tag means; 1 turns it off


@dataclass
class SchedulerConfig:
    name: str = "linear"  # any name transformers.get_scheduler accepts
    warmup_ratio: float = 0.1


@dataclass
class RouterConfig:
    name: str = MISSING  # the method name in results.json
    module: Any = MISSING  # {_target_: a LightningModule, ...its arguments}
    backbone: Any = MISSING  # {_target_: an encoder builder, ...}
    optimizer: Any = MISSING  # {_target_: torch.optim.X, _partial_: true, lr: ..., ...}
    scheduler: SchedulerConfig = field(default_factory=SchedulerConfig)
    freeze_encoder: bool = False  # True: embed queries once (cached) and train only the head
    batch_size: int = 32
    eval_batch_size: int = 128
    max_length: int = 256
    num_workers: int = 0


@dataclass
class TrainerConfig:
    """The lightning.Trainer arguments that configs may set."""

    _target_: str = "lightning.Trainer"
    accelerator: str = "cpu"
    devices: Any = 1
    num_nodes: int = 1
    strategy: Any = "auto"
    precision: Any = "32-true"
    max_epochs: int | None = 3
    min_epochs: int | None = None
    max_steps: int = -1
    max_time: str | None = None
    fast_dev_run: Any = False
    limit_train_batches: Any | None = None
    limit_val_batches: Any | None = None
    limit_predict_batches: Any | None = None
    val_check_interval: Any | None = None
    check_val_every_n_epoch: int | None = 1
    num_sanity_val_steps: int | None = None
    log_every_n_steps: int | None = 10
    gradient_clip_val: float | None = None
    accumulate_grad_batches: int = 1
    deterministic: Any = None
    benchmark: bool | None = None
    enable_progress_bar: bool | None = None
    enable_model_summary: bool | None = None
    profiler: str | None = None
    sync_batchnorm: bool = False
    default_root_dir: str | None = None  # a fit's own checkpoint folder (pipeline/train.py sets it)


@dataclass
class GenerationConfig:
    max_new_tokens: int = 256
    do_sample: bool = True
    temperature: float = 0.7
    top_p: float = 1.0


@dataclass
class ExpertPoolConfig:
    """The expert LLMs that answer queries (the generate stage)."""

    name: str = MISSING
    experts: dict[str, Any] = field(default_factory=dict)  # {name: {_target_: an expert class, ...}}
    generation: GenerationConfig = field(default_factory=GenerationConfig)
    batch_size: int = 8
    seed: int = 0  # sampling seed; each batch draws from (seed, batch) so resumed runs sample the same
    # Cost-aware routing (the quality-cost curve of task=train): {expert: cost per generated token where the
    # generate stage counted tokens, else per answer}, e.g. parameters in billions or $ per token; {} for none.
    costs: dict[str, float] = field(default_factory=dict)
    cost_unit: str = "cost"  # what a cost counts, for the plot's axis


@dataclass
class RewardModelConfig:
    """A scorer of (query, answer): the reward model of the score stage, or the judge of the evaluation."""

    name: str = MISSING
    model: Any = MISSING  # {_target_: a scorer class, ...}
    batch_size: int = 16
    max_length: int = 512  # tokens of query + answer; longer inputs lose tokens from their start (rewards/scoring.py)


@dataclass
class TaggerConfig:
    name: str = MISSING
    tagger: Any = MISSING  # {_target_: a tagger class, ...}


@dataclass
class BenchmarkConfig:
    """One evaluation subset (conf/benchmark/<group>/<subset>.yaml): where its queries come from and how an
    answer is scored."""

    name: str = MISSING  # the subset, e.g. koala
    group: str = MISSING  # its group in reports, e.g. AlpacaEval
    queries: Any = MISSING  # {_target_: a loader returning query_id, subset, query (+ reference, test, ...)}
    evaluator: Any = MISSING  # {_target_: a scorer with evaluate(queries, answers), or recorded scores}
    # generation settings over expert_pool.generation for this subset's answers, e.g. {do_sample: false}: greedy
    generation: Any = None


@dataclass
class RMLossConfig:
    margin: float = 0.0  # Bradley-Terry with a margin: -log sigmoid(r_chosen - r_rejected - margin)
    center_weight: float = 0.0  # reward centring: + weight * mean((r_chosen + r_rejected)^2)


@dataclass
class RMConfig:
    """A trainable reward-model architecture (the `rm` group, task=train_rm); its encoder is the `backbone` group."""

    name: str = MISSING  # the architecture's name in results
    module: Any = MISSING  # {_target_: a rewardroute.reward_models LightningModule, ...its arguments}
    optimizer: Any = MISSING  # {_target_: torch.optim.X, _partial_: true, lr: ..., ...}
    scheduler: SchedulerConfig = field(default_factory=SchedulerConfig)
    loss: RMLossConfig = field(default_factory=RMLossConfig)
    batch_size: int = 16  # pairs
    eval_batch_size: int = 64
    router_epochs: int = 3  # routed architectures (rodos, arliss): epochs of the router, trained first
    # ... then epochs of one reward model on every domain, copied to each domain as its start (0: none)
    shared_epochs: int = 0
    max_length: int = 128  # tokens of prompt + response; the longer of the two loses tokens first
    truncation_side: str = "left"  # ... from this end (left: a response keeps its end)
    prompt_max_length: int = 64  # tokens of the prompt that a domain router reads
    prompt_truncation_side: str = "right"  # ... losing tokens from this end (right: a prompt keeps its start)
    num_workers: int = 0


@dataclass
class RunConfig:
    task: str = "train"  # what run.py does; see rewardroute.pipeline.tasks
    name: str = MISSING  # the experiment name: W&B group, output folder
    tags: list[str] = field(default_factory=list)
    seed: int = 42
    ckpt_path: str | None = None  # task=evaluate: the router checkpoint to evaluate
    resume: str | None = None  # task=train / train_rm: a killed run's folder, to go on in (pipeline/resume.py)
    runs: list[str] = field(default_factory=list)  # task=ensemble, task=route: folders of task=train runs
    queries: str | None = None  # task=route: a jsonl (a "query" per row) or text file (a query a line) to route
    cost_lambda: float = 0.0  # task=route: route by probability - λ·cost (relative to the dearest expert), as the curve
    dir: Any = None  # task=report: the sweep folder of task=benchmark jobs, or a list of such folders
    data: DataConfig = field(default_factory=DataConfig)
    labels: LabelsConfig = field(default_factory=LabelsConfig)
    router: RouterConfig = field(default_factory=RouterConfig)
    trainer: TrainerConfig = field(default_factory=TrainerConfig)
    logger: dict[str, Any] | None = None  # {name: {_target_: a Lightning logger, ...}}
    # The upstream stages, for data whose source gives queries only (see pipeline/upstream.py).
    expert_pool: ExpertPoolConfig | None = None
    reward_model: RewardModelConfig | None = None  # the rewards routers learn from; RMR picks with it
    judge: RewardModelConfig | None = None  # the evaluation signal of the answers
    tagger: TaggerConfig | None = None
    benchmark: BenchmarkConfig | None = None  # an evaluation subset (task=benchmark, sweeps over the 26)
    rm: RMConfig | None = None  # a reward-model architecture to train (task=train_rm, experiment=rm_routers)
    paths: PathsConfig = field(default_factory=PathsConfig)
    # Published numbers shown beside the results: {row name: {group or subset: value}}.
    reference: dict[str, dict[str, float]] = field(default_factory=dict)


def register_configs() -> None:
    """Register the schema and resolvers; config.yaml starts its defaults list with `run_schema`."""
    from hydra.core.config_store import ConfigStore

    ConfigStore.instance().store(name="run_schema", node=RunConfig)
    if not OmegaConf.has_resolver("project_root"):
        OmegaConf.register_new_resolver("project_root", lambda: str(PROJECT_ROOT))
    if not OmegaConf.has_resolver("if_set"):  # ${if_set:${key},a,b}: a where the key has a value, b where it is null
        OmegaConf.register_new_resolver("if_set", lambda value, then, otherwise: otherwise if value is None else then)
