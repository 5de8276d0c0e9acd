"""Evaluators: how an answer to a benchmark query is scored (the `evaluator` of a conf/benchmark file).

Each is a small dataclass with `spec()` (its config, hashed into artifact keys) and
`evaluate(queries, answers) -> list[float | None]`: one value per row of `queries`, in order; None where an
answer could not be evaluated (a judge reply without a parseable rating), counted and logged, never guessed.

- gsm8k.FinalNumber: the answer's final number against the reference's (1/0).
- mmlu.ChoiceLetter: the chosen letter against the reference option (1/0).
- humaneval.PassAtOne: the completion run against the tests in a limited subprocess (1/0).
- pairwise.Pairwise (AlpacaEval), mt_bench.MTBench (1-10), flask.Flask (1-5): LLM judges over prompt files in
  conf/judge_prompts, served by local_lm.LocalLM (a transformers causal LM) or endpoint.Endpoint (any
  OpenAI-compatible chat-completions URL).
Recorded judge scores (AlpacaEval's GPT-4 judgements) are rewardroute.rewards.models.Recorded.
"""
