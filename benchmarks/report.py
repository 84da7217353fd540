"""Figures, the results table and the JSON document."""

from __future__ import annotations

import json
import os
import platform
import statistics
import subprocess
import time
from collections.abc import Sequence
from typing import Any

import attrs


@attrs.define
class Figure:
    """One reported number: the median of its samples, its baseline, and its target.

    Attributes:
        key: stable identifier (the JSON key, and what the tests look for).
        label: what the table shows.
        unit: the unit of ``value`` (``/s``, ``ms``, ``s``, ``B``, ``MB``).
        value: the median of ``samples``.
        samples: one value per repetition.
        baseline: the raw Dramatiq figure it is compared with (``None`` when there is none).
        baseline_label: what the baseline is.
        ratio: ``value / baseline`` (or the ratio the target is stated in).
        target: the target in words (empty when the figure is informational).
        met: whether the target is met (``None`` when there is no target).
        note: how to read it.
    """

    key: str
    label: str
    unit: str
    value: float
    samples: list[float]
    baseline: float | None = None
    baseline_label: str = ""
    ratio: float | None = None
    target: str = ""
    met: bool | None = None
    note: str = ""

    @property
    def spread(self) -> float | None:
        """(max - min) / median of the samples: how noisy this figure was (``None`` near zero)."""
        if len(self.samples) < 2:
            return 0.0
        largest = max(abs(sample) for sample in self.samples)
        if not largest or abs(self.value) < 0.05 * largest:
            return None
        return (max(self.samples) - min(self.samples)) / abs(self.value)

    def to_dict(self) -> dict[str, Any]:
        data = attrs.asdict(self)
        spread = self.spread
        data["spread"] = None if spread is None else round(spread, 4)
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Figure:
        fields = {field.name for field in attrs.fields(cls)}
        return cls(**{key: value for key, value in data.items() if key in fields})


def med(samples: Sequence[float]) -> float:
    return float(statistics.median(samples))


def fmt(value: float | None, unit: str) -> str:
    """Format a value with its unit for the table."""
    if value is None:
        return "-"
    if unit == "/s":
        return f"{value:,.0f}/s"
    if unit == "ms":
        return f"{value:.2f} ms" if value < 10 else f"{value:,.1f} ms"
    if unit == "s":
        return f"{value:.3f} s"
    if unit == "B":
        return f"{value:,.0f} B"
    if unit == "MB":
        return f"{value:,.1f} MB"
    if unit == "x":
        return f"{value:.2f}x"
    if unit == "us":
        return f"{value:,.0f} us"
    if unit == "keys":
        return f"{value:,.0f}"
    return f"{value:.3g} {unit}".strip()


def table(figures: Sequence[Figure]) -> str:
    """Render the figures as one fixed-width text table."""
    header = ("figure", "flowgen", "raw Dramatiq", "ratio", "target", "met", "spread")
    rows = [header]
    for figure in figures:
        rows.append(
            (
                figure.label,
                fmt(figure.value, figure.unit),
                fmt(figure.baseline, figure.unit) if figure.baseline is not None else "-",
                "-" if figure.ratio is None else f"{figure.ratio:.2f}x",
                figure.target or "-",
                "-" if figure.met is None else ("yes" if figure.met else "NO"),
                "-" if figure.spread is None else f"{100 * figure.spread:.0f}%",
            )
        )
    widths = [max(len(row[i]) for row in rows) for i in range(len(header))]
    lines = []
    for index, row in enumerate(rows):
        cells = [row[0].ljust(widths[0])] + [row[i].rjust(widths[i]) for i in range(1, len(row))]
        lines.append("  ".join(cells).rstrip())
        if index == 0:
            lines.append("  ".join("-" * width for width in widths))
    return "\n".join(lines)


def _version(module: str) -> str:
    try:
        from importlib.metadata import version

        return version(module)
    except Exception:
        return "not installed"


def machine() -> dict[str, Any]:
    """What the numbers were measured on."""
    model = ""
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as file:
            for line in file:
                if line.startswith("model name"):
                    model = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    try:
        redis_version = subprocess.run(
            ["redis-server", "--version"], capture_output=True, text=True, check=False
        ).stdout.strip()
    except OSError:
        redis_version = "unknown"
    memory = 0
    try:
        import psutil

        memory = int(psutil.virtual_memory().total)
    except Exception:
        pass
    return {
        "cpus": os.cpu_count(),
        "cpu_model": model,
        "memory_bytes": memory,
        "platform": platform.platform(),
        "python": platform.python_version(),
        "redis_server": redis_version,
        "dramatiq": _version("dramatiq"),
        "redis_py": _version("redis"),
        "hiredis": _version("hiredis"),
        "load_average": list(os.getloadavg()),
    }


def document(
    figures: Sequence[Figure],
    *,
    command: str,
    size: Any,
    repeat: int,
    settings: Any,
    started: float,
    extra: dict[str, Any],
) -> dict[str, Any]:
    """The JSON document of one benchmark run."""
    return {
        "format": "flowgen-benchmark/1",
        "started": time.strftime("%Y-%m-%dT%H:%M:%S%z", time.localtime(started)),
        "duration_s": round(time.time() - started, 1),
        "command": command,
        "size": attrs.asdict(size),
        "repeat": repeat,
        "settings": attrs.asdict(settings),
        "machine": machine(),
        "figures": {figure.key: figure.to_dict() for figure in figures},
        "extra": extra,
    }


def write_json(doc: dict[str, Any], path: str) -> str:
    os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
    with open(path, "w", encoding="utf-8") as file:
        json.dump(doc, file, indent=2, sort_keys=False)
        file.write("\n")
    return path
