"""Driver processes for the multi-node tests: `python -m tests.cluster.drivers CMD ...`.

The pytest process is joined to the session's embedded Ray, so everything that must join the
loopback cluster runs here, in a subprocess with RAY_ADDRESS pointing at it.
"""

from __future__ import annotations

import asyncio
import json
import sys
import time

import click


@click.group()
def main() -> None:
    pass


@main.command()
@click.option("--agent", "name", required=True)
def embed(name: str) -> None:
    """One call; prints the vectors' dimension and the replica that served it."""
    from agents.client import agent
    from cluster import connect

    connect()
    out = agent(name).embed_sync(["a first sentence", "and a second one"])
    click.echo(json.dumps({"n": len(out.embeddings), "dim": out.dim, "replica": out.usage.replica_id}))


@main.command()
@click.option("--agent", "name", required=True)
@click.option("--runs", default=30)
@click.option("--concurrency", default=6)
@click.option("--pause", default=0.3, help="seconds each run waits between its two calls")
def batch(name: str, runs: int, concurrency: int, pause: float) -> None:
    """A batch of workflow runs, each calling the agent twice; prints every run's status."""
    from agents.client import agent
    from cluster import connect
    from orchestrator import RetryPolicy, step, workflow

    connect()
    client = agent(name)

    @step(
        retry=RetryPolicy(max_attempts=6, initial_backoff=0.5, retry_on=(ConnectionError, TimeoutError)),
        timeout=90,
    )
    async def vectorise(text: str) -> int:
        first = await client.embed([text])
        await asyncio.sleep(pause)
        second = await client.embed([text + " again"])
        click.echo("PROGRESS", nl=True)  # the test removes a node after a few of these
        sys.stdout.flush()
        return first.dim + second.dim

    @workflow(store=None)
    def flow(text: str):
        return vectorise(text)

    async def go() -> list:
        click.echo("STARTED", err=True)
        return await flow.arun_many([{"text": f"item {i}"} for i in range(runs)], concurrency=concurrency)

    t0 = time.monotonic()
    records = asyncio.run(go())
    click.echo(
        json.dumps(
            {
                "statuses": [str(r.status) for r in records],
                "results": [r.result for r in records],
                "errors": [r.error for r in records if r.error],
                "seconds": round(time.monotonic() - t0, 2),
            }
        )
    )


@main.command()
@click.option("--agent", "name", required=True)
@click.option("--seconds", default=20.0)
@click.option("--concurrency", default=16)
def burst(name: str, seconds: float, concurrency: int) -> None:
    """`concurrency` callers hammer the agent for `seconds`; prints (t, latency) pairs."""
    from agents.client import agent
    from cluster import connect

    connect()
    # One request per caller: a coalescing client would fold the 16 callers into a few bulk
    # calls, and Serve's autoscaler counts calls, not the requests inside them.
    client = agent(name, coalesce=False)
    samples: list[tuple[float, float]] = []

    async def caller(t_end: float, t0: float) -> None:
        while time.monotonic() < t_end:
            s = time.monotonic()
            await client.embed([f"burst traffic sentence number {len(samples)}"])
            samples.append((round(s - t0, 3), round(time.monotonic() - s, 4)))

    async def go() -> None:
        t0 = time.monotonic()
        await asyncio.gather(*(caller(t0 + seconds, t0) for _ in range(concurrency)))

    asyncio.run(go())
    click.echo(json.dumps(samples))


if __name__ == "__main__":
    sys.exit(main())
