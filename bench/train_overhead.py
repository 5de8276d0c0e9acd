"""The Lightning router training loop against a plain PyTorch loop: same model, same batches, one process.

Both loops start from the same weights and run the same batches (tokenised once, from the quickstart data)
with the same optimizer and schedule. Rounds alternate between the two (this machine is noisy) and the median
steps/s of each is compared. Prints as its last line {"ratio": Lightning / plain steps per second (target >= 0.9),
"ours_per_s": Lightning, "baseline_per_s": plain, ...} and writes outputs/bench/train_overhead_<backbone>.json.

    python bench/train_overhead.py [--backbone minilm|tiny] [--steps 30] [--rounds 3]
"""

from __future__ import annotations

import argparse
import copy

import lightning as L
import torch
from common import alternate, record, timed
from torch.utils.data import DataLoader

from rewardroute.data.load import load_matrix
from rewardroute.main import compose_config
from rewardroute.pipeline.train import build_router
from rewardroute.schema import PROJECT_ROOT


def build(backbone: str, steps: int):
    """The quickstart router (as run.py builds it) and its first `steps` training batches."""
    cfg = compose_config([f"backbone={backbone}", "~logger"], str(PROJECT_ROOT / "outputs" / "bench" / "overhead"))
    parts = build_router(cfg, load_matrix(cfg))
    datamodule, module = parts.datamodule, parts.module
    datamodule.prepare_data()
    datamodule.setup()
    return module, [b for _, b in zip(range(steps), datamodule.train_dataloader())]


def plain_loop(module, batches) -> float:
    """nanoGPT-style: forward, loss, backward, step; the same optimizer and schedule as configure_optimizers."""
    from transformers import get_scheduler

    module.train()
    optimizer = module.optimizer_factory(module.parameters())
    sched = module.hparams.scheduler
    scheduler = get_scheduler(sched["name"], optimizer, int(sched["warmup_ratio"] * len(batches)), len(batches))
    for batch in batches:
        loss = module.loss(module(batch), batch)
        loss.backward()
        optimizer.step()
        scheduler.step()
        optimizer.zero_grad(set_to_none=True)
    return len(batches)


def lightning_loop(module, batches) -> float:
    """What run.py does: a Trainer fit over the same batches (progress bar and logging on, as by default)."""
    trainer = L.Trainer(accelerator="cpu", devices=1, max_epochs=1, logger=False, enable_checkpointing=False,
                        enable_model_summary=False, num_sanity_val_steps=0, limit_val_batches=0, log_every_n_steps=10)
    trainer.fit(module, train_dataloaders=DataLoader(batches, batch_size=None, shuffle=False))
    return len(batches)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--backbone", default="minilm", choices=["minilm", "tiny"])
    parser.add_argument("--steps", type=int, default=30)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    torch.manual_seed(0)
    module, batches = build(args.backbone, args.steps)
    initial = copy.deepcopy(module.state_dict())

    def from_start(loop):
        def work() -> float:
            module.load_state_dict(initial)
            return loop(module, batches)

        return timed(work)

    rates = alternate({"lightning": from_start(lightning_loop), "plain": from_start(plain_loop)}, args.rounds)
    record(f"train_overhead_{args.backbone}", rates["lightning"], rates["plain"], unit="steps", backbone=args.backbone,
           batch_size=len(batches[0]["idx"]), steps=len(batches))


if __name__ == "__main__":
    main()
