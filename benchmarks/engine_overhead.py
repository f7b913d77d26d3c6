"""Engine overhead: microseconds per no-op step, slmflow beside plain asyncio and LangGraph.

Shapes: a fan-out of N no-op steps between one source and one sink, and a chain of M.
Each engine runs the same shapes in this one process, taking turns; the main figure is the
best of R repetitions (least disturbed by other work on the machine), divided by the step
count. A second table gives the medians, which include the SQLite WAL checkpoints that
land in some runs (a checkpoint syncs the pages of about 1000 commits to disk).
Run: .venv/bin/python benchmarks/engine_overhead.py [--fanout 1000] [--chain 200] [--repeat 7]
"""


import argparse
import asyncio
import gc
import operator
import os
import platform
import statistics
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Annotated, Any, TypedDict

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import itertools

from orchestrator import SQLiteStore, step, workflow


@step
async def source() -> int:
    return 0


@step
async def noop(x: int) -> int:
    return x


@step
async def sink(xs: list[int]) -> int:
    return len(xs)


def make_fanout(n: int) -> Any:
    @workflow(name=f"fanout_{n}")
    def fanout():
        s = source()
        return sink([noop(s) for _ in range(n)])

    return fanout


def make_map_fanout(n: int) -> Any:
    @step
    def items(x: int) -> list[int]:
        return [x] * n

    @workflow(name=f"map_fanout_{n}")
    def map_fanout():
        return sink(noop.map(items(source())))

    return map_fanout


def make_chain(n: int) -> Any:
    @workflow(name=f"chain_{n}")
    def chain():
        x = source()
        for _ in range(n):
            x = noop(x)
        return x

    return chain


# ---- the floor: plain asyncio ----


async def _anoop(x: int) -> int:
    return x


async def asyncio_fanout(n: int) -> None:
    s = await _anoop(0)
    xs = await asyncio.gather(*(_anoop(s) for _ in range(n)))
    assert len(xs) == n


async def asyncio_chain(n: int) -> None:
    # One task per step, as an engine must create to keep steps independent.
    x = await asyncio.create_task(_anoop(0))
    for _ in range(n):
        x = await asyncio.create_task(_anoop(x))


# ---- LangGraph ----


class FanState(TypedDict):
    x: int
    xs: Annotated[list[int], operator.add]


class ChainState(TypedDict):
    x: int



def langgraph_graphs(fan: int, chain: int) -> dict[str, Any] | None:
    try:
        from langgraph.graph import END, START, StateGraph
        from langgraph.types import Send
    except ImportError:
        return None

    async def lg_source(state: FanState) -> dict[str, Any]:
        return {"x": 0}

    async def lg_noop(state: dict[str, Any]) -> dict[str, Any]:
        return {"xs": [state["x"]]}

    async def lg_sink(state: FanState) -> dict[str, Any]:
        return {"x": len(state["xs"])}

    def fan_out(state: FanState) -> list[Send]:
        return [Send("noop", {"x": state["x"]}) for _ in range(fan)]

    g = StateGraph(FanState)
    g.add_node("source", lg_source)
    g.add_node("noop", lg_noop)
    g.add_node("sink", lg_sink)
    g.add_edge(START, "source")
    g.add_conditional_edges("source", fan_out, ["noop"])
    g.add_edge("noop", "sink")
    g.add_edge("sink", END)
    fan_graph = g.compile()

    async def c_noop(state: ChainState) -> dict[str, Any]:
        return {"x": state["x"]}

    c = StateGraph(ChainState)
    names = [f"n{i}" for i in range(chain + 1)]
    for name in names:
        c.add_node(name, c_noop)
    c.add_edge(START, names[0])
    for a, b in itertools.pairwise(names):
        c.add_edge(a, b)
    c.add_edge(names[-1], END)
    chain_graph = c.compile()
    limit = {"recursion_limit": chain + 10}
    return {
        "fanout": lambda: fan_graph.ainvoke({"x": 0, "xs": []}),
        "chain": lambda: chain_graph.ainvoke({"x": 0}, config=limit),
    }


async def timed_interleaved(fns: dict[str, Callable[[], Awaitable[Any]]], repeat: int) -> dict[str, list[float]]:
    """Every time of each, taking turns within every repetition so bursts of load elsewhere hit all alike."""
    for fn in fns.values():
        await fn()  # warm-up
    times: dict[str, list[float]] = {name: [] for name in fns}
    for _ in range(repeat):
        for name, fn in fns.items():
            gc.collect()
            t0 = time.perf_counter()
            await fn()
            times[name].append(time.perf_counter() - t0)
    return times


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--fanout", type=int, default=1000)
    parser.add_argument("--chain", type=int, default=200)
    parser.add_argument("--repeat", type=int, default=7)
    args = parser.parse_args()
    fan_n, chain_n, repeat = args.fanout, args.chain, args.repeat
    tmp = tempfile.mkdtemp(prefix="slmflow-bench-")
    store = SQLiteStore(os.path.join(tmp, "runs.db"))
    shapes = {
        "fanout": (make_fanout(fan_n), fan_n + 2),
        "map_fanout": (make_map_fanout(fan_n), fan_n + 4),
        "chain": (make_chain(chain_n), chain_n + 1),
    }
    floors = {"fanout": lambda: asyncio_fanout(fan_n), "map_fanout": lambda: asyncio_fanout(fan_n),
              "chain": lambda: asyncio_chain(chain_n)}  # fmt: skip
    lg = langgraph_graphs(fan_n, chain_n)
    rows = []
    for shape, (wf, steps) in shapes.items():
        mem = wf.with_options(store=None)
        dur = wf.with_options(store=store)
        fns: dict[str, Callable[[], Awaitable[Any]]] = {
            "floor": floors[shape],
            "mem": mem.arun,
            "dur": dur.arun,
        }
        if lg is not None and shape in lg:
            fns["lg"] = lg[shape]
        rows.append((shape, steps, await timed_interleaved(fns, repeat)))

    print(f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} CPUs, Python {platform.python_version()}")
    print(f"load average at end: {os.getloadavg()}")
    for title, pick in ((f"best of {repeat} runs", min), (f"median of {repeat} runs", statistics.median)):
        print(f"\n{title}; microseconds per step\n")
        header = f"{'shape':<14}{'steps':>6}{'asyncio':>10}{'slmflow':>10}{'x floor':>9}{'+sqlite':>10}{'x floor':>9}{'langgraph':>11}{'x floor':>9}"
        print(header)
        print("-" * len(header))
        for shape, steps, times in rows:
            floor, no_store, with_store = pick(times["floor"]), pick(times["mem"]), pick(times["dur"])
            lg_time = pick(times["lg"]) if "lg" in times else None

            def us(t: float, steps: int = steps) -> float:
                return t / steps * 1e6

            lg_cols = f"{us(lg_time):>11.1f}{lg_time / floor:>9.1f}" if lg_time else f"{'n/a':>11}{'':>9}"
            print(
                f"{shape:<14}{steps:>6}{us(floor):>10.1f}{us(no_store):>10.1f}{no_store / floor:>9.2f}"
                f"{us(with_store):>10.1f}{with_store / floor:>9.2f}{lg_cols}"
            )
    if lg is None:
        print("\nLangGraph not installed: `.venv/bin/pip install langgraph` to include it (not a project dependency)")


if __name__ == "__main__":
    asyncio.run(main())
