"""The Grafana dashboard in examples/ parses and queries only metrics flowgen exports."""

from __future__ import annotations

import json
import re
from pathlib import Path

import flowgen
from flowgen.observability import metrics

ROOT = Path(__file__).resolve().parents[2]
DASHBOARD = ROOT / "examples" / "grafana-dashboard.json"
DOC = ROOT / "docs" / "observability.md"
SUFFIXES = {"counter": ("_total", "_created"), "histogram": ("_bucket", "_count", "_sum", "_created"), "gauge": ("",)}


def exported_families() -> dict[str, str]:
    """Every flowgen metric family (name -> type): the process's and the store's state gauges."""
    families = {family.name: family.type for family in metrics.registry.collect() if family.name.startswith("flowgen_")}
    with flowgen.Engine("memory://", tracing=False) as engine:
        for family in metrics.StoreCollector(engine).collect():
            families[family.name] = family.type
    return families


def sample_names() -> set[str]:
    return {name + suffix for name, kind in exported_families().items() for suffix in SUFFIXES[kind]}


def expressions() -> list[str]:
    dashboard = json.loads(DASHBOARD.read_text(encoding="utf-8"))
    found = [target["expr"] for panel in dashboard["panels"] for target in panel["targets"]]
    for variable in dashboard["templating"]["list"]:
        if isinstance(variable.get("query"), dict):
            found.append(variable["query"]["query"])
    return found


def test_the_dashboard_parses_and_every_query_names_a_real_metric() -> None:
    names = sample_names()
    used = set()
    for expr in expressions():
        for name in re.findall(r"\bflowgen_[a-z_]+", expr):
            assert name in names, f"the dashboard queries {name!r}, which flowgen does not export: {expr}"
            used.add(name)
    assert len(used) >= 15


def test_every_metric_is_in_the_docs_with_its_type() -> None:
    text = DOC.read_text(encoding="utf-8")
    for name, kind in exported_families().items():
        row = re.search(rf"^\| `{name}` \| (\w+) \|", text, re.MULTILINE)
        assert row is not None, f"docs/observability.md has no row for {name}"
        assert row.group(1) == kind, f"docs/observability.md says {name} is a {row.group(1)}, it is a {kind}"
