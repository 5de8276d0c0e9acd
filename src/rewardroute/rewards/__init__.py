"""Reward models and judges: scorers of (query, answer) for the score stage and for evaluation."""
