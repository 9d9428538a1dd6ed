"""The bench's output: one line per figure, beside its reference and its target."""

from __future__ import annotations

import statistics
from collections.abc import Sequence
from dataclasses import dataclass


@dataclass(frozen=True)
class Line:
    figure: str
    value: str
    reference: str = ""
    ratio: str = ""
    target: str = ""
    met: bool | None = None
    """None: no target for this line."""

    @property
    def verdict(self) -> str:
        return "" if self.met is None else ("met" if self.met else "NOT MET")


def median(values: Sequence[float]) -> float:
    return statistics.median(values) if values else 0.0


def ratio_line(
    figure: str,
    value: float,
    reference_name: str,
    reference: float,
    *,
    unit: str,
    target: float | None = None,
) -> Line:
    ratio = value / reference if reference else 0.0
    return Line(
        figure=figure,
        value=f"{value:,.0f} {unit}",
        reference=f"{reference_name} {reference:,.0f} {unit}",
        ratio=f"{ratio:.2f}x",
        target=f">= {target:g}x" if target is not None else "",
        met=None if target is None else ratio >= target,
    )


def render(lines: Sequence[Line]) -> str:
    header = Line("figure", "hookgate", "reference", "ratio", "target")
    rows = [header, *lines]
    cells = [
        (row.figure, row.value, row.reference, row.ratio, row.target, row.verdict) for row in rows
    ]
    cells[0] = (*cells[0][:5], "")
    widths = [max(len(cell[i]) for cell in cells) for i in range(6)]

    def fmt(cell: tuple[str, ...]) -> str:
        return "| " + " | ".join(c.ljust(w) for c, w in zip(cell, widths, strict=True)) + " |"

    rule = "|" + "|".join("-" * (w + 2) for w in widths) + "|"
    return "\n".join([fmt(cells[0]), rule, *(fmt(cell) for cell in cells[1:])])
