"""MT-Bench's judge: single-answer grading, 1 to 10, FastChat "single-v1" style (the rating as [[x]]).

An answer is a string (the first turn's answer: only turn 1 is judged) or a list of strings, one per turn (a
list, tuple or array, as a parquet list column gives it): turn 1 is judged on its own, turn 2 with the whole
conversation, and the score is the mean of the turn ratings (None if any turn's reply has no rating). The
router sees the first turn only; the queries' `turns` column holds both questions.

Queries of a category in `reference_categories` (FastChat's math, reasoning, coding; the `category` column)
are judged against the reference answer (`reference`: one per turn) where the query has one. The prompt file
has `system`, `turn_1`, `turn_2`, `turn_1_reference`, `turn_2_reference`, with {question_i}, {answer_i} and
{reference_i} for turn i.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from rewardroute.data.matrix import DataError, where_query
from rewardroute.evaluators.judge import Ask, Judge, fill, rating, strings


@dataclass
class MTBench(Judge):
    reference_categories: list[str] = field(default_factory=lambda: ["math", "reasoning", "coding"])

    TEMPLATES = ("system", "turn_1", "turn_2", "turn_1_reference", "turn_2_reference")

    def __post_init__(self):
        self.reference_categories = list(self.reference_categories)  # a plain list (Hydra passes a ListConfig)

    def asks(self, row: dict, answer) -> list[Ask]:
        questions, answers = strings(row.get("turns")) or [row["query"]], strings(answer)
        if len(answers) > len(questions):
            raise DataError(f"{where_query(row)}: {len(answers)} answer turns for "
                            f"{len(questions)} questions")
        references = strings(row.get("reference")) if row.get("category") in self.reference_categories else []
        suffix = "_reference" if len(references) >= len(answers) else ""
        values = {}
        for i, (question, turn) in enumerate(zip(questions, answers), start=1):
            values.update({f"question_{i}": question, f"answer_{i}": turn})
        values.update({f"reference_{i}": reference for i, reference in enumerate(references, start=1)})
        t = self.templates
        return [(t["system"], fill(t[f"turn_{i}{suffix}"], **values)) for i in range(1, len(answers) + 1)]

    def rate(self, row: dict, answer, replies: list[str | None]) -> float | None:
        ratings = [rating(reply, 1, 10) for reply in replies]
        return None if None in ratings or not ratings else sum(ratings) / len(ratings)
