"""The HTML report: DAG and timeline SVGs, per-agent table, cost beside the reference price."""

from __future__ import annotations

import asyncio
import re
import xml.dom.minidom
from pathlib import Path

import pytest

from orchestrator import SQLiteStore, UsageRecord, current_step, step, workflow
from workflows.report import agent_stats, cost_comparison, dag_svg, parse_mermaid, write_report


@step
async def classify(x: int) -> int:
    ctx = current_step()
    assert ctx is not None
    ctx.record_usage(UsageRecord(run_id=ctx.run_id, step=ctx.step, agent="enc", task="classify", model="m",
                                 tokens_in=100, queue_ms=1.0, compute_ms=9.0 + x, cost_usd=0.00001))
    await asyncio.sleep(0.02)
    return x


@step
async def draft(x: int) -> int:
    ctx = current_step()
    assert ctx is not None
    ctx.record_usage(UsageRecord(run_id=ctx.run_id, step=ctx.step, agent="gen", task="chat", model="g",
                                 tokens_in=200, tokens_out=100, compute_ms=100.0 * (x + 1), cost_usd=0.0001,
                                 escalated=x == 3))
    await asyncio.sleep(0.05)
    return x * 2


@step
def combine(a: int, b: int) -> int:
    return a + b


def make_workflow(store: SQLiteStore):
    @workflow(store=store, name="pipeline")
    def pipeline(x: int):
        return combine(classify(x), draft(x))

    return pipeline


@pytest.fixture
def ran(tmp_path: Path):
    store = SQLiteStore(tmp_path / "runs.db")
    wf = make_workflow(store)
    runs = wf.run_many([{"x": i} for i in range(4)], concurrency=2)
    usage = [u for r in runs for u in store.list_usage(run_id=r.run_id)]
    return wf, runs, usage


def test_agent_stats_and_cost(ran) -> None:
    _, _, usage = ran
    stats = {s.agent: s for s in agent_stats(usage)}
    assert stats["enc"].calls == 4 and stats["gen"].calls == 4
    assert stats["enc"].p50_ms == pytest.approx(11.5)  # queue 1 + compute 9..12
    assert stats["gen"].p95_ms == pytest.approx(385.0)  # percentile of 100..400
    assert stats["gen"].escalated == 1
    cmp = cost_comparison(usage, 0.03)
    assert cmp.tokens == 4 * 100 + 4 * 300
    assert cmp.reference_cost_usd == pytest.approx(1.6 * 0.03)
    assert cmp.cost_usd == pytest.approx(4 * 0.00011)
    assert cmp.ratio == pytest.approx(0.048 / 0.00044)


def test_the_price_ratio_is_labelled_and_measured_figures_stand_beside_it(ran, tmp_path: Path) -> None:
    wf, runs, usage = ran
    cmp = cost_comparison(usage, 0.03, threads={"enc": 1, "gen": 2})
    assert (cmp.calls, cmp.tokens_in, cmp.tokens_out) == (8, 4 * 100 + 4 * 200, 4 * 100)
    compute_ms = sum(9.0 + x for x in range(4)) + sum(100.0 * (x + 1) for x in range(4))
    assert cmp.compute_s == pytest.approx(compute_ms / 1000)
    assert cmp.cpu_s == pytest.approx((sum(9.0 + x for x in range(4)) + 2 * 1000.0) / 1000)
    assert cmp.p50_latency_ms is not None and cmp.p50_latency_ms > 0
    assert cost_comparison(usage, 0.03, threads={"enc": 1}).cpu_s is None  # gen's threads unknown
    assert "not a measurement" in cmp.price_text() and "configured prices" in cmp.price_text()
    assert "8 model calls" in cmp.measured_text() and "CPU-seconds" in cmp.measured_text()
    text = write_report(tmp_path / "r.html", title="t", mermaid=wf.mermaid(), runs=runs, usage=usage,
                        reference_usd_per_1k=0.03, threads={"enc": 1, "gen": 2}).read_text()
    assert "Measured: 8 model calls" in text and "not a measurement" in text
    assert "x cheaper" not in text


def test_dag_from_the_engines_mermaid(ran) -> None:
    wf, _, _ = ran
    nodes, edges = parse_mermaid(wf.mermaid())
    labels = {n.label for n in nodes.values()}
    assert {"x", "classify", "draft", "combine"} <= labels
    assert len(edges) == 5  # x->classify, x->draft, classify->combine, draft->combine, combine->result
    svg = dag_svg(wf.mermaid())
    xml.dom.minidom.parseString(svg)
    assert svg.count("<rect") == len(nodes)


def test_report_is_self_contained_html(ran, tmp_path: Path) -> None:
    wf, runs, usage = ran
    path = write_report(tmp_path / "r" / "report.html", title="test <run>", mermaid=wf.mermaid(), runs=runs,
                        usage=usage, reference_usd_per_1k=0.03, wall_s=1.5)
    text = path.read_text()
    assert "test &lt;run&gt;" in text
    assert not re.search(r"(src|href)=\"https?://", text)  # no CDN, no network
    svgs = re.findall(r"<svg.*?</svg>", text, re.S)
    assert len(svgs) == 2
    for svg in svgs:
        xml.dom.minidom.parseString(svg)
    timeline = svgs[1]
    # One bar per executed step per run, each with a tooltip naming the step.
    assert len(re.findall(r"<title>(classify|draft|combine):", timeline)) == 3 * len(runs)
    assert "$0.048" in text  # the reference cost of 1600 tokens at $0.03/1K
    assert "<td class=\"l\">enc</td><td class=\"\">4</td>" in text
