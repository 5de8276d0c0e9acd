"""Recipes: one function per task that run.py can run, each readable top to bottom."""
