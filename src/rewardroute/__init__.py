"""rewardroute: Hydra-configured experiments for reward-guided LLM routing."""

__version__ = "0.1.0"
