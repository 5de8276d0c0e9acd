"""Typed schema of the run config: a key that is not declared here is an error when Hydra composes.

Nodes that build an object (`data.source`, `router.module`, `router.backbone`, `router.optimizer`, the loggers)
are typed `Any` here; their keys are checked against the signature of their `_target_` when instantiated.
This module is imported before composition, so it stays free of heavy imports.
"""

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Dict, List, Optional

from omegaconf import MISSING, OmegaConf

PROJECT_ROOT = Path(__file__).resolve().parents[2]


@dataclass
class PathsConfig:
    root_dir: str = MISSING
    data_dir: str = MISSING  # the folder holding the real data sets (../shared/data beside the project)
    cache_dir: str = MISSING  # tokenised data sets and frozen-encoder embeddings, keyed by content hash
    output_dir: str = MISSING  # this run's Hydra directory


@dataclass
class DataConfig:
    name: str = MISSING
    source: Any = MISSING  # {_target_: a loader returning the long response table, ...its arguments}
    root: Optional[str] = None  # the data folder, for sources that read files
    experts: Optional[List[str]] = None  # keep only these experts (None: every expert in the data)
    subsets: Optional[List[str]] = None  # keep only these subsets (None: all)
    groups: Dict[str, List[str]] = field(default_factory=dict)  # report groups, e.g. {ID: [...], OOD: [...]}
    # Subsets without a train split borrow another subset's train split for the dataset oracle.
    proxy_train: Dict[str, str] = field(default_factory=dict)
    reward: str = "score"  # what the router learns from: "score" (raw) or "metric" (the evaluation transform)
    null_scores: str = "fail"  # a query with a null score: "fail" (error naming the row) or "drop" (counted)
    test_fraction: float = 0.2  # seeded test split, only for data without splits of its own
    val_fraction: float = 0.1  # validation split carved from train (checkpoint and setting selection)
    split_seed: int = 0
    report_scale: float = 1.0  # multiplies the metric in reports (100: accuracy in %)


@dataclass
class LabelsConfig:
    kind: str = "soft"  # soft: softmax(reward / temperature); hard: one-hot argmax (cross-entropy)
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
    max_epochs: Optional[int] = 3
    min_epochs: Optional[int] = None
    max_steps: int = -1
    max_time: Optional[str] = None
    fast_dev_run: Any = False
    limit_train_batches: Optional[Any] = None
    limit_val_batches: Optional[Any] = None
    limit_predict_batches: Optional[Any] = None
    val_check_interval: Optional[Any] = None
    check_val_every_n_epoch: Optional[int] = 1
    num_sanity_val_steps: Optional[int] = None
    log_every_n_steps: Optional[int] = 10
    gradient_clip_val: Optional[float] = None
    accumulate_grad_batches: int = 1
    deterministic: Any = None
    benchmark: Optional[bool] = None
    enable_progress_bar: Optional[bool] = None
    enable_model_summary: Optional[bool] = None
    profiler: Optional[str] = None
    sync_batchnorm: bool = False
    default_root_dir: Optional[str] = None


@dataclass
class RunConfig:
    task: str = "train"  # what run.py does; see rewardroute.pipeline.tasks
    name: str = MISSING  # the experiment name: W&B group, output folder
    tags: List[str] = field(default_factory=list)
    seed: int = 42
    data: DataConfig = field(default_factory=DataConfig)
    labels: LabelsConfig = field(default_factory=LabelsConfig)
    router: RouterConfig = field(default_factory=RouterConfig)
    trainer: TrainerConfig = field(default_factory=TrainerConfig)
    logger: Optional[Dict[str, Any]] = None  # {name: {_target_: a Lightning logger, ...}}
    paths: PathsConfig = field(default_factory=PathsConfig)
    # Published numbers shown beside the results: {row name: {group or subset: value}}.
    reference: Dict[str, Dict[str, float]] = field(default_factory=dict)


def register_configs() -> None:
    """Register the schema and resolvers; config.yaml starts its defaults list with `run_schema`."""
    from hydra.core.config_store import ConfigStore

    ConfigStore.instance().store(name="run_schema", node=RunConfig)
    if not OmegaConf.has_resolver("project_root"):
        OmegaConf.register_new_resolver("project_root", lambda: str(PROJECT_ROOT))
