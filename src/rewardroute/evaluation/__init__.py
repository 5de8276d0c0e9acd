"""Evaluation: baselines, per-subset scores, ranks against the single experts, MTR, uplift, reports."""
