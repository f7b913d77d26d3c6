"""Property tests on random DAGs with injected failures, flakiness and delays."""

from __future__ import annotations

import asyncio
import tempfile
from dataclasses import dataclass
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from orchestrator import (
    Failure,
    RetryPolicy,
    RunStatus,
    SQLiteStore,
    StepStatus,
    current_step,
    step,
    workflow,
)

_STORE = SQLiteStore(Path(tempfile.mkdtemp(prefix="slmflow-props-")) / "runs.db")


@dataclass(frozen=True)
class Spec:
    deps: tuple[int, ...]
    mode: str  # "ok" | "fail" | "flaky"
    flaky_failures: int
    max_attempts: int
    delay: float
    receive_failures: bool


@st.composite
def dags(draw: st.DrawFn) -> list[Spec]:
    n = draw(st.integers(1, 10))
    specs = []
    for i in range(n):
        deps = tuple(sorted(draw(st.sets(st.integers(0, i - 1), max_size=3)))) if i else ()
        specs.append(
            Spec(
                deps=deps,
                mode=draw(st.sampled_from(["ok", "ok", "ok", "fail", "flaky"])),
                flaky_failures=draw(st.integers(1, 3)),
                max_attempts=draw(st.integers(1, 3)),
                delay=draw(st.sampled_from([0.0, 0.0, 0.001, 0.003])),
                receive_failures=draw(st.booleans()),
            )
        )
    return specs


def expected(specs: list[Spec]) -> tuple[list[StepStatus], list[int]]:
    """The statuses and attempt counts the semantics promise, computed independently."""
    statuses: list[StepStatus] = []
    attempts: list[int] = []
    for spec in specs:
        upstream_bad = any(statuses[d] is not StepStatus.SUCCEEDED for d in spec.deps)
        if upstream_bad and not spec.receive_failures:
            statuses.append(StepStatus.SKIPPED)
            attempts.append(0)
        elif spec.mode == "ok":
            statuses.append(StepStatus.SUCCEEDED)
            attempts.append(1)
        elif spec.mode == "fail":
            statuses.append(StepStatus.FAILED)
            attempts.append(spec.max_attempts)
        else:
            ok = spec.flaky_failures < spec.max_attempts
            statuses.append(StepStatus.SUCCEEDED if ok else StepStatus.FAILED)
            attempts.append(spec.flaky_failures + 1 if ok else spec.max_attempts)
    return statuses, attempts


def build(specs: list[Spec], durable: bool):
    calls = [0] * len(specs)
    finished: set[int] = set()
    violations: list[str] = []

    def make(i: int, spec: Spec):
        async def body(*inputs):
            calls[i] += 1
            for d, value in zip(spec.deps, inputs, strict=True):
                if isinstance(value, Failure):
                    if not spec.receive_failures:
                        violations.append(f"n{i} got a failure of n{d} without opting in")
                elif d not in finished or value != f"n{d}":
                    violations.append(f"n{i} started before n{d}'s output existed")
            if durable:
                stored = _STORE.load_outputs(current_step().run_id)
                for d, value in zip(spec.deps, inputs, strict=True):
                    if not isinstance(value, Failure) and stored.get(f"n{d}", (None,))[0] is not StepStatus.SUCCEEDED:
                        violations.append(f"n{i} started before n{d}'s output was stored")
            if spec.delay:
                await asyncio.sleep(spec.delay)
            if spec.mode == "fail" or (spec.mode == "flaky" and calls[i] <= spec.flaky_failures):
                raise ConnectionError(f"injected n{i} #{calls[i]}")
            finished.add(i)
            return f"n{i}"

        return step(
            name=f"n{i}",
            retry=RetryPolicy(max_attempts=spec.max_attempts, initial_backoff=0.0005, jitter=0.5),
            receive_failures=spec.receive_failures,
        )(body)

    steps = [make(i, s) for i, s in enumerate(specs)]

    @workflow(store=_STORE if durable else None, name="random_dag")
    def dag():
        nodes = []
        for s, spec in zip(steps, specs, strict=True):
            nodes.append(s(*[nodes[d] for d in spec.deps]))
        return nodes

    return dag, calls, violations


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(specs=dags(), durable=st.booleans())
def test_random_dags_obey_the_semantics(specs: list[Spec], durable: bool) -> None:
    dag, calls, violations = build(specs, durable)
    async def go():
        return await dag.start().wait()

    record = asyncio.run(go())
    assert violations == []
    want_status, want_attempts = expected(specs)
    by_id = {s.step: s for s in record.steps}
    for i, spec in enumerate(specs):
        got = by_id[f"n{i}"]
        assert got.status is want_status[i], (i, spec, got)
        assert got.attempts == want_attempts[i] == calls[i], (i, spec, got, calls[i])
        assert calls[i] <= spec.max_attempts
        if want_status[i] is StepStatus.SKIPPED:
            assert got.skip_reason and got.skip_reason.startswith("upstream")
        if want_status[i] is StepStatus.FAILED:
            assert got.error_type == "ConnectionError" and len(got.history) == calls[i]
    any_failed = StepStatus.FAILED in want_status
    assert (record.status is RunStatus.SUCCEEDED) == (not any_failed)
    if any_failed:
        assert record.status in (RunStatus.PARTIAL, RunStatus.FAILED)
    if durable:
        stored = _STORE.get_run(record.run_id)
        assert stored.status is record.status
        assert {s.step: s.status for s in stored.steps} == {s.step: s.status for s in record.steps}
