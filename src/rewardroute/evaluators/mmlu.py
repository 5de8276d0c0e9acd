"""MMLU accuracy: the option letter the answer chooses equals the reference option.

The letter is read, in this order, from an explicit statement ("The answer is (B)", "Answer: **B**",
"**Final Answer:** B", "$\\boxed{B}$", "the correct option is B", "B is the answer"; the last one made), from
the start of the answer ("B", "B. Paris", "(B)", "**B**"), or from a letter in brackets or bold anywhere, where
the answer brackets or bolds one letter only (one that walks through "(A) is wrong ... (D) is wrong" has chosen
none of them by that alone). Only capital letters count ("A" as a word opening a sentence does not). An answer
without a letter is wrong (0).
The reference is an option index (cais/mmlu's `answer`) or a letter.
"""

from __future__ import annotations

import math
import re
from dataclasses import asdict, dataclass
from numbers import Real

import pandas as pd

from rewardroute.data.matrix import DataError, where_query


@dataclass
class ChoiceLetter:
    letters: str = "ABCD"

    def spec(self) -> dict:
        return {"kind": "ChoiceLetter", "reading": 2, **asdict(self)}  # reading: bumped when it reads answers anew

    def patterns(self) -> list[re.Pattern]:
        c = f"[{re.escape(self.letters)}]"
        statement = "|".join([
            rf"(?i:answer)[*_]*(?:\s+is)?[*_]*\s*[:\-]?[*_\s]*[(\[]*({c})(?![A-Za-z])",
            rf"\\boxed\{{\s*({c})\s*\}}",
            rf"(?i:(?:correct|right|best)\s+(?:option|choice))(?:\s+is|\s*:)?[*_\s]*[(\[]*({c})(?![A-Za-z])",
            rf"(?<![A-Za-z])[(\[*_]*({c})[)\]*_]*\s+is\s+(?:the\s+)?(?:(?i:correct|right)\s+)?(?i:answer|option|choice)",
        ])
        return [re.compile(statement), re.compile(rf"^\s*[*_(\[]*({c})(?:[).:\]*_]|\s*$)"),
                re.compile(rf"\(({c})\)|\*\*({c})\*\*")]

    def choice(self, answer: str) -> str | None:
        statement, start, marked = self.patterns()
        for pattern in (statement, start):
            found = list(pattern.finditer(answer))
            if found:
                return next(g for g in found[-1].groups() if g)
        letters = {next(g for g in m.groups() if g) for m in marked.finditer(answer)}
        return letters.pop() if len(letters) == 1 else None

    def expected(self, row: dict) -> str:
        reference = row["reference"]
        if isinstance(reference, Real) and math.isfinite(reference) and 0 <= int(reference) < len(self.letters):
            return self.letters[int(reference)]
        if isinstance(reference, str) and reference.strip().upper() in self.letters:
            return reference.strip().upper()
        raise DataError(f"{where_query(row)}: reference {reference!r} is neither an option index "
                        f"nor one of {self.letters}")

    def evaluate(self, queries: pd.DataFrame, answers: list[str]) -> list[float | None]:
        return [float(self.choice(answer or "") == self.expected(row))
                for row, answer in zip(queries.to_dict("records"), answers)]
