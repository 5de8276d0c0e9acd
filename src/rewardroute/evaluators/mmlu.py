"""MMLU accuracy: the option letter the answer chooses equals the reference option.

The letter is read, in this order, from an explicit statement ("The answer is (B)", "Answer: **B**",
"**Final Answer:** B", "$\\boxed{B}$"), from the start of the answer ("B", "B. Paris", "(B)", "**B**"), or from
a letter in brackets or bold anywhere. Only capital letters count ("A" as a word opening a sentence does not).
An answer without a letter is wrong (0).
The reference is an option index (cais/mmlu's `answer`) or a letter.
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass
from numbers import Real

import pandas as pd

from rewardroute.data.matrix import DataError, where_query


@dataclass
class ChoiceLetter:
    letters: str = "ABCD"

    def spec(self) -> dict:
        return {"kind": "ChoiceLetter", **asdict(self)}

    def patterns(self) -> list[re.Pattern]:
        c = f"[{re.escape(self.letters)}]"
        return [
            re.compile(rf"(?i:answer)[*_]*(?:\s+is)?[*_]*\s*[:\-]?[*_\s]*[(\[]*({c})(?![A-Za-z])|\\boxed\{{\s*({c})\s*\}}"),
            re.compile(rf"^\s*[*_(\[]*({c})(?:[).:\]*_]|\s*$)"),
            re.compile(rf"\(({c})\)|\*\*({c})\*\*"),
        ]

    def choice(self, answer: str) -> str | None:
        for pattern in self.patterns():
            found = list(pattern.finditer(answer))
            if found:
                return next(g for g in found[-1].groups() if g)
        return None

    def expected(self, row: dict) -> str:
        reference = row["reference"]
        if isinstance(reference, Real) and 0 <= int(reference) < len(self.letters):
            return self.letters[int(reference)]
        if isinstance(reference, str) and reference.strip().upper() in self.letters:
            return reference.strip().upper()
        raise DataError(f"{where_query(row)}: reference {reference!r} is neither an option index "
                        f"nor one of {self.letters}")

    def evaluate(self, queries: pd.DataFrame, answers: list[str]) -> list[float | None]:
        return [float(self.choice(answer or "") == self.expected(row))
                for row, answer in zip(queries.to_dict("records"), answers)]
