"""The printed report: sections of aligned rows, and a closing summary of every target, met or missed."""

from __future__ import annotations

import sys
from dataclasses import dataclass, field
from typing import TextIO


@dataclass(frozen=True)
class Verdict:
    figure: str
    value: str
    target: str
    met: bool | None  # None: not measured in this run


@dataclass
class Report:
    out: TextIO = field(default_factory=lambda: sys.stdout)
    verdicts: list[Verdict] = field(default_factory=list)

    def section(self, title: str, note: str = "") -> None:
        print(f"\n== {title}", file=self.out)
        if note:
            print(f"   {note}", file=self.out)
        self.out.flush()

    def line(self, text: str) -> None:
        print(f"   {text}", file=self.out, flush=True)

    def row(self, label: str, *cells: str, note: str = "") -> None:
        text = f"   {label:<46}" + "".join(f"{cell:>12}" for cell in cells)
        print(f"{text}   {note}".rstrip(), file=self.out, flush=True)

    def target(self, figure: str, value: str, target: str, met: bool | None) -> str:
        self.verdicts.append(Verdict(figure, value, target, met))
        return f"target {target}: " + {True: "MET", False: "MISSED", None: "not measured"}[met]

    def summary(self) -> None:
        self.section("Targets")
        for v in self.verdicts:
            state = {True: "MET", False: "MISSED", None: "n/a"}[v.met]
            self.row(v.figure, v.value, note=f"{state:<7} (target {v.target})")


def ratio(value: float, baseline: float) -> str:
    if not baseline:
        return "-"
    times = value / baseline
    return f"{times:.2f}×" if times >= 0.1 else f"{times:.4f}×"
