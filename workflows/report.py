"""A self-contained HTML report of workflow runs: the DAG, a timeline of steps, per-agent usage.

No network, no JavaScript: the DAG and the timeline are SVG drawn here (a layered layout
of the workflow's Mermaid graph), the tables plain HTML with inline CSS, so the file
opens anywhere and can be mailed around.
"""

from __future__ import annotations

import html
import json
import re
import statistics
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from pydantic import BaseModel, Field

from orchestrator import RunRecord, UsageRecord

# The article's reference price for a large hosted model (GPT-4 Turbo): $0.03 per 1K tokens.
REFERENCE_USD_PER_1K = 0.03

_PALETTE = ["#4e79a7", "#f28e2b", "#59a14f", "#e15759", "#76b7b2", "#edc948", "#b07aa1", "#ff9da7",
            "#9c755f", "#bab0ac"]


# --------------------------------------------------------------------------------------
# Per-agent accounting (shared with the demo's console table)

class AgentStats(BaseModel):
    agent: str
    calls: int
    errors: int = 0
    escalated: int = 0
    p50_ms: float
    p95_ms: float
    tokens_in: int
    tokens_out: int
    cost_usd: float


class CostComparison(BaseModel):
    """The run's measured usage beside a price comparison.

    `cost_usd` and `reference_cost_usd` are both the recorded tokens times a *configured*
    price (the fleet's `pricing`, and the reference LLM price), so `ratio` is a ratio of two
    prices, not a measurement. The measured side is the rest: calls, tokens, latency and the
    compute time the replicas spent (and CPU-seconds where the agents' threads are known).
    """

    cost_usd: float
    tokens: int
    reference_usd_per_1k: float = Field(gt=0)
    reference_cost_usd: float
    calls: int = 0
    tokens_in: int = 0
    tokens_out: int = 0
    p50_latency_ms: float | None = None
    compute_s: float = Field(default=0.0, description="replica busy time: the sum of the calls' compute_ms")
    cpu_s: float | None = Field(default=None, description="compute time times each agent's engine threads")

    @property
    def ratio(self) -> float:
        """Reference price over the fleet's configured prices, for the same tokens (not measured)."""
        return self.reference_cost_usd / self.cost_usd if self.cost_usd > 0 else float("inf")

    def measured_text(self) -> str:
        """The measured figures, in one line."""
        p50 = f"{self.p50_latency_ms:.0f} ms" if self.p50_latency_ms is not None else "-"
        cpu = f" (~{self.cpu_s:.1f} CPU-seconds at the agents' engine threads)" if self.cpu_s is not None else ""
        return (f"{self.calls} model calls, {self.tokens_in} tokens in / {self.tokens_out} out, "
                f"p50 latency {p50}, {self.compute_s:.1f} s of replica compute{cpu}")

    def price_text(self) -> str:
        """The price comparison, labelled as one."""
        ratio = f"a price ratio of {self.ratio:.0f}x" if self.cost_usd > 0 else "no configured price recorded"
        return (f"at the fleet's configured prices ${self.cost_usd:.6f}; at the reference LLM price "
                f"(${self.reference_usd_per_1k}/1K tokens) ${self.reference_cost_usd:.4f}: {ratio} "
                "(configured prices times the same tokens, not a measurement)")


def _p50_p95(values: Sequence[float]) -> tuple[float, float]:
    if len(values) == 1:  # quantiles needs two points; one point is every percentile
        return float(values[0]), float(values[0])
    # "inclusive": linear interpolation between the closest ranks, numpy's default too.
    q = statistics.quantiles(values, n=100, method="inclusive")
    return q[49], q[94]


def agent_stats(usage: Iterable[UsageRecord]) -> list[AgentStats]:
    """Calls, p50/p95 latency (queue + compute), tokens and cost per agent."""
    by_agent: dict[str, list[UsageRecord]] = defaultdict(list)
    for u in usage:
        by_agent[u.agent].append(u)
    out = []
    for name in sorted(by_agent):
        rows = by_agent[name]
        p50, p95 = _p50_p95([u.queue_ms + u.compute_ms for u in rows])
        out.append(AgentStats(
            agent=name,
            calls=len(rows),
            errors=sum(u.error is not None for u in rows),
            escalated=sum(u.escalated for u in rows),
            p50_ms=p50,
            p95_ms=p95,
            tokens_in=sum(u.tokens_in for u in rows),
            tokens_out=sum(u.tokens_out for u in rows),
            cost_usd=sum(u.cost_usd for u in rows),
        ))
    return out


def cost_comparison(usage: Iterable[UsageRecord], reference_usd_per_1k: float = REFERENCE_USD_PER_1K,
                    threads: Mapping[str, int] | None = None) -> CostComparison:
    """Measured usage and the price comparison; `threads` (agent -> engine threads) adds CPU-seconds."""
    rows = list(usage)
    tokens = sum(u.tokens_in + u.tokens_out for u in rows)
    cpu_s = None
    if threads is not None and all(u.agent in threads for u in rows):
        cpu_s = sum(u.compute_ms / 1000 * threads[u.agent] for u in rows)
    return CostComparison(
        cost_usd=sum(u.cost_usd for u in rows),
        tokens=tokens,
        reference_usd_per_1k=reference_usd_per_1k,
        reference_cost_usd=tokens / 1000 * reference_usd_per_1k,
        calls=len(rows),
        tokens_in=sum(u.tokens_in for u in rows),
        tokens_out=sum(u.tokens_out for u in rows),
        p50_latency_ms=_p50_p95([u.queue_ms + u.compute_ms for u in rows])[0] if rows else None,
        compute_s=sum(u.compute_ms for u in rows) / 1000,
        cpu_s=cpu_s,
    )


# --------------------------------------------------------------------------------------
# The DAG: parse the engine's Mermaid text, lay it out in layers, draw it

@dataclass
class _Node:
    id: str
    label: str
    shape: str  # "input", "map", "step", "result"


_NODE = re.compile(r'^\s*(\w+)\s*(\(\[|\[\[|\(\(|\[)"?(.*?)"?(\]\)|\]\]|\)\)|\])\s*$')
_EDGE = re.compile(r"^\s*(\w+)\s*-->(?:\|[^|]*\|)?\s*(\w+)\s*$")


def parse_mermaid(text: str) -> tuple[dict[str, _Node], list[tuple[str, str]]]:
    """Nodes and edges of a Mermaid `flowchart` (the subset the engine writes)."""
    nodes: dict[str, _Node] = {}
    edges: list[tuple[str, str]] = []
    shapes = {"([": "input", "[[": "map", "((": "result", "[": "step"}
    for line in text.splitlines()[1:]:
        if m := _EDGE.match(line):
            edges.append((m.group(1), m.group(2)))
            for nid in m.groups():
                nodes.setdefault(nid, _Node(nid, nid, "step"))
        elif m := _NODE.match(line):
            nodes[m.group(1)] = _Node(m.group(1), m.group(3), shapes.get(m.group(2), "step"))
    return nodes, edges


def dag_svg(mermaid_text: str) -> str:
    """An SVG of the graph, layered top to bottom by longest path from the inputs."""
    nodes, edges = parse_mermaid(mermaid_text)
    if not nodes:
        return "<p>(empty graph)</p>"
    preds: dict[str, list[str]] = defaultdict(list)
    for a, b in edges:
        preds[b].append(a)
    layer: dict[str, int] = {}

    def depth(n: str, seen: frozenset[str] = frozenset()) -> int:
        if n not in layer:
            layer[n] = 0 if not preds[n] or n in seen else 1 + max(depth(p, seen | {n}) for p in preds[n])
        return layer[n]

    for n in nodes:
        depth(n)
    rows: dict[int, list[str]] = defaultdict(list)
    for n in nodes:  # keeps the engine's node order within a layer
        rows[layer[n]].append(n)
    box_w, box_h, gap_x, gap_y = 170, 34, 24, 46
    width = max(len(r) for r in rows.values()) * (box_w + gap_x) + gap_x
    height = len(rows) * (box_h + gap_y) + gap_y
    pos: dict[str, tuple[float, float]] = {}
    for li, names in rows.items():
        row_w = len(names) * (box_w + gap_x) - gap_x
        x0 = (width - row_w) / 2
        for i, n in enumerate(names):
            pos[n] = (x0 + i * (box_w + gap_x), gap_y / 2 + li * (box_h + gap_y))
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" class="dag">',
             '<defs><marker id="arrow" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="7" markerHeight="7" '
             'orient="auto-start-reverse"><path d="M 0 0 L 10 5 L 0 10 z" fill="#666"/></marker></defs>']
    for a, b in edges:
        (xa, ya), (xb, yb) = pos[a], pos[b]
        x1, y1, x2, y2 = xa + box_w / 2, ya + box_h, xb + box_w / 2, yb
        mid = (y1 + y2) / 2
        parts.append(f'<path d="M {x1:.0f} {y1:.0f} C {x1:.0f} {mid:.0f}, {x2:.0f} {mid:.0f}, {x2:.0f} {y2 - 2:.0f}" '
                     'fill="none" stroke="#666" stroke-width="1.3" marker-end="url(#arrow)"/>')
    fills = {"input": "#e8f1fb", "map": "#fdf0e0", "step": "#eef7ec", "result": "#f4e9f7"}
    for n, node in nodes.items():
        x, y = pos[n]
        rx = 17 if node.shape in ("input", "result") else 4
        parts.append(f'<rect x="{x:.0f}" y="{y:.0f}" width="{box_w}" height="{box_h}" rx="{rx}" '
                     f'fill="{fills[node.shape]}" stroke="#555"/>')
        label = node.label if len(node.label) <= 26 else node.label[:25] + "…"
        parts.append(f'<text x="{x + box_w / 2:.0f}" y="{y + box_h / 2 + 4:.0f}" text-anchor="middle" '
                     f'font-size="12">{html.escape(label)}</text>')
    parts.append("</svg>")
    return "".join(parts)


# --------------------------------------------------------------------------------------
# Timeline of steps per run

def timeline_svg(runs: Sequence[RunRecord], max_runs: int = 60) -> str:
    """One row per run; each step a bar from its start to its end, parallel steps in sub-lanes."""
    runs = [r for r in runs if any(s.started_at and s.ended_at for s in r.steps)][:max_runs]
    if not runs:
        return "<p>(no timed steps)</p>"
    t0 = min(s.started_at for r in runs for s in r.steps if s.started_at)
    t1 = max(s.ended_at for r in runs for s in r.steps if s.ended_at)
    span = max((t1 - t0).total_seconds(), 1e-3)
    names = sorted({s.name for r in runs for s in r.steps})
    color = {n: _PALETTE[i % len(_PALETTE)] for i, n in enumerate(names)}
    label_w, plot_w, lane_h = 150, 760, 7

    def x(t: datetime) -> float:
        return label_w + (t - t0).total_seconds() / span * plot_w

    body: list[str] = []
    y = 20
    for run in runs:
        timed = sorted((s for s in run.steps if s.started_at and s.ended_at), key=lambda s: s.started_at)
        lanes: list[datetime] = []
        placed = []
        for s in timed:
            lane = next((i for i, end in enumerate(lanes) if end <= s.started_at), len(lanes))
            if lane == len(lanes):
                lanes.append(s.ended_at)
            else:
                lanes[lane] = s.ended_at
            placed.append((s, lane))
        row_h = max(len(lanes), 1) * (lane_h + 1) + 4
        # Ids start with their time, so runs of one batch differ only at the end: show that.
        body.append(f'<text x="4" y="{y + row_h / 2 + 3:.0f}" font-size="10"><title>{html.escape(run.run_id)}</title>'
                    f'…{html.escape(run.run_id[-10:])} '
                    f'{html.escape(str(run.status.value if hasattr(run.status, "value") else run.status))}</text>')
        for s, lane in placed:
            x1, x2 = x(s.started_at), x(s.ended_at)
            fail = str(getattr(s.status, "value", s.status)) != "succeeded"
            body.append(f'<rect x="{x1:.1f}" y="{y + 2 + lane * (lane_h + 1)}" width="{max(x2 - x1, 1.5):.1f}" '
                        f'height="{lane_h}" fill="{color[s.name]}" stroke="{"#c00" if fail else "none"}">'
                        f'<title>{html.escape(s.step)}: {(s.ended_at - s.started_at).total_seconds() * 1000:.0f} ms'
                        f' ({html.escape(str(getattr(s.status, "value", s.status)))})</title></rect>')
        y += row_h
    height = y + 40
    axis = [f'<line x1="{label_w}" y1="{y + 4}" x2="{label_w + plot_w}" y2="{y + 4}" stroke="#999"/>']
    for i in range(6):
        tx = label_w + plot_w * i / 5
        axis.append(f'<text x="{tx:.0f}" y="{y + 18}" font-size="10" text-anchor="middle">{span * i / 5:.1f}s</text>')
    legend = []
    lx = label_w
    for n in names:
        legend.append(f'<rect x="{lx}" y="4" width="10" height="10" fill="{color[n]}"/>'
                      f'<text x="{lx + 14}" y="13" font-size="11">{html.escape(n)}</text>')
        lx += 24 + 7 * len(n)
    width = max(label_w + plot_w + 20, lx)
    return (f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" class="timeline">'
            + "".join(legend + body + axis) + "</svg>")


# --------------------------------------------------------------------------------------
# The page

_CSS = """
body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:24px;color:#222;max-width:1200px}
h1{font-size:22px}h2{font-size:17px;margin-top:28px;border-bottom:1px solid #ddd;padding-bottom:4px}
table{border-collapse:collapse;font-size:13px}th,td{border:1px solid #ddd;padding:4px 8px;text-align:right}
th{background:#f5f5f5}td.l,th.l{text-align:left}.big{font-size:15px}.ok{color:#2a7a2a}.bad{color:#b22}
pre{background:#f7f7f7;padding:8px;font-size:12px;white-space:pre-wrap;max-height:260px;overflow:auto}
.scroll{overflow-x:auto}
"""


def _table(headers: list[str], rows: list[list[str]], left: int = 1) -> str:
    th = "".join(f'<th class="{"l" if i < left else ""}">{html.escape(h)}</th>' for i, h in enumerate(headers))
    trs = "".join("<tr>" + "".join(f'<td class="{"l" if i < left else ""}">{c}</td>' for i, c in enumerate(r)) + "</tr>"
                  for r in rows)
    return f"<table><tr>{th}</tr>{trs}</table>"


def render_html(
    *,
    title: str,
    mermaid: str,
    runs: Sequence[RunRecord],
    usage: Sequence[UsageRecord],
    reference_usd_per_1k: float = REFERENCE_USD_PER_1K,
    wall_s: float | None = None,
    samples: int = 5,
    threads: Mapping[str, int] | None = None,
) -> str:
    stats = agent_stats(usage)
    cmp = cost_comparison(usage, reference_usd_per_1k, threads)
    statuses: dict[str, int] = defaultdict(int)
    for r in runs:
        statuses[str(getattr(r.status, "value", r.status))] += 1
    agent_rows = [[html.escape(s.agent), str(s.calls), f"{s.p50_ms:.0f}", f"{s.p95_ms:.0f}", str(s.tokens_in),
                   str(s.tokens_out), f"${s.cost_usd:.6f}", str(s.escalated), str(s.errors)] for s in stats]
    step_rows = _step_rows(runs)
    sample_html = "".join(
        f"<h3 style='font-size:13px'>{html.escape(r.run_id)} ({html.escape(str(getattr(r.status, 'value', r.status)))})</h3>"
        f"<pre>{html.escape(json.dumps(r.result, indent=1, default=str)[:2000])}</pre>"
        for r in runs[:samples])
    summary = (f"{len(runs)} runs: " + ", ".join(f"{v} {k}" for k, v in sorted(statuses.items()))
               + (f"; wall time {wall_s:.1f} s" if wall_s is not None else ""))
    return f"""<!doctype html><html><head><meta charset="utf-8"><title>{html.escape(title)}</title>
<style>{_CSS}</style></head><body>
<h1>{html.escape(title)}</h1>
<p class="big">{html.escape(summary)}</p>
<h2>Usage and cost</h2>
<p class="big">Measured: {html.escape(cmp.measured_text())}.</p>
<p class="big">Priced: {html.escape(cmp.price_text())}.</p>
<h2>Agents</h2>
{_table(["agent", "calls", "p50 ms", "p95 ms", "tokens in", "tokens out", "cost", "escalated", "errors"], agent_rows)}
<h2>Workflow graph</h2>
<div class="scroll">{dag_svg(mermaid)}</div>
<h2>Timeline of steps per run</h2>
<div class="scroll">{timeline_svg(runs)}</div>
<h2>Steps</h2>
{_table(["step", "runs", "p50 ms", "p95 ms", "failed", "skipped"], step_rows)}
<h2>Sample outputs</h2>
{sample_html}
<details><summary>Mermaid source</summary><pre>{html.escape(mermaid)}</pre></details>
</body></html>
"""


def _step_rows(runs: Sequence[RunRecord]) -> list[list[str]]:
    by_name: dict[str, list[Any]] = defaultdict(list)
    for r in runs:
        for s in r.steps:
            by_name[s.name].append(s)
    rows = []
    for name, steps in by_name.items():
        durs = [s.duration_s * 1000 for s in steps if s.duration_s is not None]
        status = [str(getattr(s.status, "value", s.status)) for s in steps]
        p50, p95 = _p50_p95(durs) if durs else (None, None)
        rows.append([html.escape(name), str(len(steps)),
                     f"{p50:.0f}" if p50 is not None else "-", f"{p95:.0f}" if p95 is not None else "-",
                     str(status.count("failed")), str(status.count("skipped"))])
    return rows


def write_report(path: str | Path, **kwargs: Any) -> Path:
    """Render the report (see `render_html`) to `path`; returns the path."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(render_html(**kwargs), encoding="utf-8")
    return path
