"""Router-based lightweight reward models (Namgoong et al., 2024; DESIGN.md section 4) beside a single one:
`single`, MoRE (a sparse mixture of experts inside), RODOS (a router picks one of K domain reward models),
ARLISS (one backbone with a router adapter and a LoRA reward adapter per domain). Trained by task=train_rm.

`load_trained(path)` loads a trained one to score (prompt, response) pairs (see trained.py).
"""

from rewardroute.reward_models.trained import TrainedRewardModel, load_trained

__all__ = ["TrainedRewardModel", "load_trained"]
