"""GSM8K accuracy: the answer's final number equals the reference's.

The final number is the first number after the last "####" or "the answer is", else the last number in the
answer; thousands commas, a currency sign and a trailing dot are ignored, and the two are compared as numbers
("72.0" matches "72"). An answer without a number is wrong (0), not unevaluable.
"""

from __future__ import annotations

import math
import re
from dataclasses import asdict, dataclass
from numbers import Real

import pandas as pd

from rewardroute.data.matrix import DataError, where_query

NUMBER = re.compile(r"-?\d{1,3}(?:,\d{3})+(?:\.\d+)?|-?\d+(?:\.\d+)?")
MARKER = re.compile(r"####|the answer is", re.IGNORECASE)


def final_number(text: str) -> float | None:
    markers = list(MARKER.finditer(text))
    if markers:
        after = NUMBER.search(text, markers[-1].end())
        if after is not None:
            return float(after.group().replace(",", ""))
    numbers = NUMBER.findall(text)
    return float(numbers[-1].replace(",", "")) if numbers else None


@dataclass
class FinalNumber:
    tolerance: float = 1e-6

    def spec(self) -> dict:
        return {"kind": "FinalNumber", **asdict(self)}

    def evaluate(self, queries: pd.DataFrame, answers: list[str]) -> list[float | None]:
        scores = []
        for row, answer in zip(queries.to_dict("records"), answers):
            reference = row["reference"]
            if isinstance(reference, Real) and math.isnan(reference):  # a row without the field, in a table
                reference = None
            expected = reference if isinstance(reference, Real) else final_number(str(reference or ""))
            if expected is None:
                raise DataError(f"{where_query(row)}: no number in the reference answer "
                                f"{str(reference)[-80:]!r}")
            got = final_number(answer or "")
            scores.append(float(got is not None and abs(got - float(expected)) <= self.tolerance))
        return scores
