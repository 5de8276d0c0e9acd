"""FLASK's judge: each query is graded 1 to 5 on each of its own skills (the `skills` column, 2 to 3 of FLASK's
12, e.g. Logical Correctness, Readability), against the reference answer, with each skill's rubric from the
prompt file; the score is the mean over the query's skills (None if any skill has no rating).

The prompt file has `system`, `user` (with {question}, {reference}, {answer}, {rubrics}, {skill_lines}) and
`skills` ({skill name: rubric}); the judge ends its reply with a line "<skill>: [[x]]" per skill.
"""

from __future__ import annotations

from dataclasses import dataclass

from rewardroute.data.matrix import DataError, where_query
from rewardroute.evaluators.judge import Ask, Judge, fill, rating, strings


@dataclass
class Flask(Judge):
    TEMPLATES = ("system", "user", "skills")

    def skills(self, row: dict) -> list[str]:
        skills = strings(row.get("skills"))
        unknown = [s for s in skills if s not in self.templates["skills"]]
        if not skills or unknown:
            raise DataError(f"{where_query(row)}: skills {skills} must be a non-empty list of the "
                            f"skills in {self.prompt} ({', '.join(self.templates['skills'])})")
        return skills

    def asks(self, row: dict, answer: str) -> list[Ask]:
        skills, t = self.skills(row), self.templates
        rubrics = "\n\n".join(f"{s}: {t['skills'][s].strip()}" for s in skills)
        return [(t["system"], fill(t["user"], question=row["query"], reference=row.get("reference") or "(none)",
                                   answer=answer, rubrics=rubrics, skill_lines="\n".join(f"{s}: [[x]]" for s in skills)))]

    def rate(self, row: dict, answer: str, replies: list[str | None]) -> float | None:
        ratings = [rating(replies[0], 1, 5, label=s) for s in self.skills(row)]
        return None if None in ratings else sum(ratings) / len(ratings)
