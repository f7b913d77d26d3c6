"""The longer chaos run of issue 10: faults injected into real runs, and a report against three targets.

    nice -n 10 .venv/bin/python benchmarks/chaos.py [--quick] [--json out.json] [--no-serve]

Engine faults (the `slmflow` CLI in subprocesses, each trial with its own SLMFLOW_HOME):
- driver SIGKILL loops: a batch of 6-step chains is SIGKILLed, its `resume --batch` SIGKILLed
  again at random, then finished; every step execution is logged outside the store;
- simultaneous resumes: three `slmflow resume RID` of one failed run at once;
- hung steps: a sync step that sleeps 120 s under `timeout=0.5`;
- `SLMFLOW_HOME` read-only (a tmpfs remounted read-only) and full (a filled tmpfs, mid-run);
- a corrupted store file (random bytes over its first page, then a truncated copy);
- fuzzed inputs (hypothesis): workflow inputs and fleet files, the suite's own properties.

Serve faults (its own Ray cluster of a head and a worker node, `ray.cluster_utils.Cluster`,
under a private RAY_TMPDIR; stopped at the end; no other Ray is touched), while callers load
the tiny BERT agents (tests/fixtures/models.py) without pause:
- a replica killed under load;
- the worker node lost mid-batch (its raylet and workers killed), a replacement joining later;
- a redeploy that cannot load (empty model folder) followed by a good one;
- fuzzed HTTP bodies posted to the ingress (the suite's property).

Targets: runs lost 0; duplicated step executions 0 beyond a step mid-flight at a crash; hung
calls 0. A step re-run counts as a duplicate when the store had recorded its success before
the resume that ran it again; re-runs of steps that were running when the process died are
reported apart (allowed).
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import contextlib
import datetime as dt
import json
import os
import random
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
SLMFLOW = Path(sys.executable).parent / "slmflow"
HUNG_S = 120.0  # a call or command not answered by then counts as hung
STEP_S = 0.2  # each chain step's sleep: a batch runs long enough to be killed in the middle

FLOW = '''
import os
import time
from pathlib import Path
from orchestrator import step, workflow

LOG = Path(os.environ["CHAOS_LOG"])
STEP_S = float(os.environ.get("CHAOS_STEP_S", "0.05"))


def did(tag: str, name: str) -> None:
    with LOG.open("a") as fh:
        fh.write(f"{tag} {name}\\n")


def _s(name):
    def body(tag: str) -> str:
        did(tag, name)
        time.sleep(STEP_S)
        return tag
    body.__name__ = body.__qualname__ = name
    return step(body)


s1, s2, s3, s4, s5, s6 = (_s(f"s{i}") for i in range(1, 7))


@workflow
def chain(tag: str):
    return s6(s5(s4(s3(s2(s1(tag))))))


@step
def effect(tag: str) -> str:
    did(tag, "effect")
    return tag


@step
def gate(tag: str) -> str:
    if Path(os.environ["CHAOS_GATE"]).exists():
        raise RuntimeError("gate closed")
    did(tag, "gate")
    # Hold the step until the other resumers are out (or 30 s), so that they really overlap.
    release, end = Path(os.environ["CHAOS_RELEASE"]), time.time() + 30
    while not release.exists() and time.time() < end:
        time.sleep(0.05)
    return tag


@workflow
def gated(tag: str):
    return gate(effect(tag))


@step(timeout=0.5)
def hang(tag: str) -> str:
    time.sleep(120)
    return tag


@workflow
def hung(tag: str):
    return hang(tag)


@step
def fill(tag: str) -> str:
    did(tag, "fill")
    if Path(os.environ["CHAOS_FILL"]).exists():
        try:
            with open(Path(os.environ["SLMFLOW_HOME"]) / "filler", "wb") as fh:
                while True:
                    fh.write(bytes(65536))
        except OSError:
            pass
    return "y" * 100_000


@step
def after(s: str) -> int:
    return len(s)


@workflow
def filling(tag: str):
    return after(fill(tag))
'''


class Tally:
    """What the run did and found, for the report."""

    def __init__(self) -> None:
        self.faults: collections.Counter[str] = collections.Counter()
        self.bad_inputs: collections.Counter[str] = collections.Counter()
        self.load: dict[str, Any] = {}
        self.recovery_s: dict[str, list[float]] = collections.defaultdict(list)
        self.runs_total = 0
        self.runs_lost = 0
        self.duplicates = 0
        self.midflight_reruns = 0
        self.hung = 0
        self.unclear_errors: list[str] = []
        self.notes: list[str] = []

    def report(self) -> dict[str, Any]:
        def verdict(ok: bool) -> str:
            return "PASS" if ok else "FAIL"

        return {
            "load_held": self.load,
            "faults_injected": dict(self.faults),
            "bad_inputs_tried": dict(self.bad_inputs),
            "recovery_s": {k: {"median": round(sorted(v)[len(v) // 2], 2), "max": round(max(v), 2), "n": len(v)}
                           for k, v in self.recovery_s.items() if v},
            "runs": self.runs_total,
            "targets": {
                "runs_lost": [self.runs_lost, verdict(self.runs_lost == 0)],
                "duplicated_step_executions": [self.duplicates, verdict(self.duplicates == 0)],
                "hung_calls": [self.hung, verdict(self.hung == 0)],
            },
            "step_reruns_mid_flight_at_a_crash": self.midflight_reruns,
            "unclear_errors": self.unclear_errors,
            "notes": self.notes,
        }


# ---------------------------------------------------------------- engine faults


class Home:
    """A scratch SLMFLOW_HOME with the chaos workflows and an execution log."""

    def __init__(self, root: Path, name: str) -> None:
        self.dir = root / name
        self.dir.mkdir(parents=True)
        (self.dir / "chaos_flow.py").write_text(FLOW)
        self.home = self.dir / "home"
        self.home.mkdir()
        self.log = self.dir / "did.log"
        self.env = {
            **os.environ, "SLMFLOW_HOME": str(self.home), "CHAOS_LOG": str(self.log),
            "CHAOS_GATE": str(self.dir / "gate-closed"), "CHAOS_FILL": str(self.dir / "fill-now"),
            "CHAOS_RELEASE": str(self.dir / "release"),
            "PYTHONPATH": f"{self.dir}{os.pathsep}{REPO}", "SLMFLOW_LOG_LEVEL": "CRITICAL", "CHAOS_STEP_S": str(STEP_S),
        }  # fmt: skip

    def popen(self, *args: str) -> subprocess.Popen[str]:
        return subprocess.Popen([str(SLMFLOW), *args], cwd=self.dir, env=self.env, text=True,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE)  # fmt: skip

    def run(self, *args: str, timeout: float = HUNG_S) -> subprocess.CompletedProcess[str] | None:
        try:
            return subprocess.run([str(SLMFLOW), *args], cwd=self.dir, env=self.env, text=True,
                                  capture_output=True, timeout=timeout)  # fmt: skip
        except subprocess.TimeoutExpired:
            return None

    def executions(self) -> list[tuple[str, str]]:
        if not self.log.exists():
            return []
        return [tuple(line.split()) for line in self.log.read_text().splitlines() if line.strip()]  # type: ignore[misc]

    def succeeded_steps(self) -> set[tuple[str, str]]:
        """(tag, step) of every step the store records as succeeded."""
        db = self.home / "runs.db"
        if not db.exists():
            return set()
        conn = sqlite3.connect(db, timeout=30)
        try:
            rows = conn.execute(
                "SELECT runs.inputs, steps.name FROM steps JOIN runs USING (run_id) WHERE steps.status='succeeded'"
            ).fetchall()
        finally:
            conn.close()
        return {(json.loads(inputs)["tag"], name) for inputs, name in rows}

    def integrity(self) -> str:
        conn = sqlite3.connect(self.home / "runs.db")
        try:
            return str(conn.execute("PRAGMA integrity_check").fetchone()[0])
        finally:
            conn.close()


def _clean(proc: subprocess.CompletedProcess[str] | None, tally: Tally, what: str) -> None:
    """A refused command must say so in a line, not a traceback."""
    if proc is not None and "Traceback" in proc.stderr:
        tally.unclear_errors.append(f"{what}: {proc.stderr.strip().splitlines()[-1][:200]}")


def kill_loops(root: Path, tally: Tally, trials: int, batch: int, rng: random.Random) -> None:
    """SIGKILL `slmflow run --inputs` mid-batch, then SIGKILL its resumes at random, then finish."""
    for t in range(trials):
        h = Home(root, f"kill{t}")
        tags = [f"k{t}-{i}" for i in range(batch)]
        inputs = h.dir / "batch.jsonl"
        inputs.write_text("".join(json.dumps({"tag": tag}) + "\n" for tag in tags))
        proc = h.popen("run", "chaos_flow:chain", "--inputs", str(inputs), "-c", "4", "--no-progress")
        assert proc.stderr is not None
        batch_id = None
        while batch_id is None:  # every input is recorded once this line is out
            line = proc.stderr.readline()
            if not line:
                raise RuntimeError(f"slmflow run ended before announcing its batch: {proc.communicate()}")
            if line.startswith("batch "):
                batch_id = line.split()[1].rstrip(":")
        time.sleep(rng.uniform(0.2, batch / 4 * 6 * STEP_S))
        proc.send_signal(signal.SIGKILL)
        proc.communicate()
        tally.faults["driver SIGKILL mid-batch"] += 1
        for attempt in range(4):
            recorded, seen = h.succeeded_steps(), len(h.executions())
            resumer = h.popen("resume", "--batch", batch_id, "-c", "4")
            killed = attempt < 3 and rng.random() < 0.5
            t0 = time.monotonic()
            if killed:
                time.sleep(rng.uniform(0.5, 2.5))
                resumer.send_signal(signal.SIGKILL)
                tally.faults["resume SIGKILLed"] += 1
            try:
                resumer.communicate(timeout=HUNG_S)
            except subprocess.TimeoutExpired:
                resumer.kill()
                resumer.communicate()
                tally.hung += 1
            for tag, name in h.executions()[seen:]:
                if (tag, name) in recorded:
                    tally.duplicates += 1
            if not killed:
                tally.recovery_s["resume --batch after a driver SIGKILL"].append(time.monotonic() - t0)
                break
        execs = collections.Counter(h.executions())
        tally.midflight_reruns += sum(n - 1 for n in execs.values() if n > 1)
        conn = sqlite3.connect(h.home / "runs.db")
        try:
            statuses = dict(conn.execute("SELECT inputs, status FROM runs WHERE batch=?", (batch_id,)).fetchall())
        finally:
            conn.close()
        done = {json.loads(k)["tag"] for k, v in statuses.items() if v == "succeeded"}
        tally.runs_total += batch
        tally.runs_lost += sum(1 for tag in tags if tag not in done)
        if h.integrity() != "ok":
            tally.notes.append(f"kill trial {t}: integrity_check {h.integrity()}")


def simultaneous_resumes(root: Path, tally: Tally, trials: int) -> None:
    for t in range(trials):
        h = Home(root, f"resume{t}")
        Path(h.env["CHAOS_GATE"]).touch()
        first = h.run("run", "chaos_flow:gated", "-i", f"tag=r{t}", "--no-progress")
        assert first is not None and first.returncode == 1, first
        rid = json.loads(first.stdout.splitlines()[-1])["run_id"]
        Path(h.env["CHAOS_GATE"]).unlink()
        procs = [h.popen("resume", rid) for _ in range(3)]
        tally.faults["simultaneous resumes (3 at once)"] += 1
        end = time.monotonic() + HUNG_S
        while sum(p.poll() is not None for p in procs) < 2 and time.monotonic() < end:
            time.sleep(0.05)
        Path(h.env["CHAOS_RELEASE"]).touch()
        codes = []
        for p in procs:
            try:
                p.communicate(timeout=HUNG_S)
            except subprocess.TimeoutExpired:
                p.kill()
                p.communicate()
                tally.hung += 1
            codes.append(p.returncode)
        tally.runs_total += 1
        gates = sum(1 for _, name in h.executions() if name == "gate")
        effects = sum(1 for _, name in h.executions() if name == "effect")
        tally.duplicates += max(0, gates - 1) + max(0, effects - 1)
        # The winner holds the step until the two others are out: they overlap for sure.
        if sorted(codes) != [0, 3, 3]:
            tally.notes.append(f"simultaneous resumes trial {t}: exit codes {codes}")
        if codes.count(0) == 0:
            tally.runs_lost += 1


def hung_steps(root: Path, tally: Tally, trials: int) -> None:
    for t in range(trials):
        h = Home(root, f"hang{t}")
        t0 = time.monotonic()
        done = h.run("run", "chaos_flow:hung", "-i", f"tag=h{t}", "--no-progress", timeout=60)
        tally.faults["hung sync step (120 s sleep, timeout=0.5)"] += 1
        tally.runs_total += 1
        if done is None:
            tally.hung += 1
            continue
        tally.recovery_s["process exit after a hung step's timeout"].append(time.monotonic() - t0)
        record = json.loads(done.stdout.splitlines()[-1])
        if record["status"] != "failed":
            tally.notes.append(f"hung step trial {t}: status {record['status']}")


def _mount(path: Path, *opts: str) -> bool:
    return subprocess.run(["mount", *opts, str(path)], capture_output=True).returncode == 0


def home_faults(root: Path, tally: Tally) -> None:
    """SLMFLOW_HOME read-only, and full mid-run (a 4 MiB tmpfs): clear errors, nothing lost."""
    h = Home(root, "homefaults")
    if os.geteuid() != 0 or not _mount(h.home, "-t", "tmpfs", "-o", "size=4m", "tmpfs"):
        tally.notes.append("read-only/full home skipped: cannot mount a tmpfs here")
        return
    try:
        for i in range(2):
            ok = h.run("run", "chaos_flow:chain", "-i", f"tag=home{i}", "--no-progress")
            assert ok is not None and ok.returncode == 0, ok
        tally.runs_total += 2
        before = h.run("runs", "list", "--json")
        assert before is not None
        # Read-only.
        assert _mount(h.home, "-o", "remount,ro")
        tally.faults["SLMFLOW_HOME read-only"] += 1
        listed = h.run("runs", "list", "--json")
        refused = h.run("run", "chaos_flow:chain", "-i", "tag=home-ro", "--no-progress")
        _clean(refused, tally, "run on a read-only home")
        if listed is None or listed.stdout != before.stdout:
            tally.notes.append("read-only home: stored runs not readable as before")
        if refused is None or refused.returncode != 1 or "read-only" not in refused.stderr:
            tally.unclear_errors.append(f"read-only home: {refused and refused.stderr[-300:]}")
        assert _mount(h.home, "-o", "remount,rw")
        # Full, mid-run.
        Path(h.env["CHAOS_FILL"]).touch()
        tally.faults["SLMFLOW_HOME full mid-run"] += 1
        full = h.run("run", "chaos_flow:filling", "-i", "tag=home-full", "--no-progress")
        _clean(full, tally, "run on a home that fills up")
        tally.runs_total += 1
        Path(h.env["CHAOS_FILL"]).unlink()
        (h.home / "filler").unlink(missing_ok=True)
        advice = [ln for ln in (full.stderr if full else "").splitlines() if "slmflow resume " in ln]
        if full is None or "no space left" not in full.stderr or not advice:
            tally.unclear_errors.append(f"full home: {full and full.stderr[-300:]}")
            tally.runs_lost += 1
        else:
            rid = advice[-1].rsplit("slmflow resume ", 1)[1].split("`")[0].strip()
            resumed = h.run("resume", rid)
            if resumed is None or resumed.returncode != 0:
                tally.runs_lost += 1
        if h.integrity() != "ok":
            tally.notes.append("home faults: integrity_check failed")
    finally:
        subprocess.run(["umount", "-l", str(h.home)], capture_output=True)


def corrupted_store(root: Path, tally: Tally, rng: random.Random) -> None:
    h = Home(root, "corrupt")
    ok = h.run("run", "chaos_flow:chain", "-i", "tag=c", "--no-progress")
    assert ok is not None and ok.returncode == 0
    db = h.home / "runs.db"
    good = db.read_bytes()
    for kind in ("first page overwritten", "truncated to 100 bytes"):
        broken = bytearray(good)
        if kind.startswith("first"):
            broken[: 2048] = rng.randbytes(2048)
        else:
            broken = broken[:100]
        db.write_bytes(bytes(broken))
        for suffix in ("-wal", "-shm"):
            Path(f"{db}{suffix}").unlink(missing_ok=True)
        tally.faults[f"corrupted store file ({kind})"] += 1
        listed = h.run("runs", "list")
        _clean(listed, tally, f"runs list on a store with its {kind}")
        if listed is None or listed.returncode == 0 or str(db) not in listed.stderr:
            tally.unclear_errors.append(f"corrupted store ({kind}): {listed and listed.stderr[-300:]}")
        if db.read_bytes() != bytes(broken):
            tally.notes.append(f"corrupted store ({kind}): the file was changed")


def _property(test: Any, examples: int, **strategies: Any) -> Any:
    """The suite's hypothesis property `test`, rebuilt with this run's number of examples."""
    from hypothesis import HealthCheck, given, settings

    inner = test.hypothesis.inner_test
    return given(**strategies)(settings(
        max_examples=examples, database=None, deadline=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    )(inner))  # fmt: skip


def fuzzed_inputs(tally: Tally, examples: int) -> None:
    from tests.chaos import test_fleet_fuzz, test_input_fuzz

    for name, test, what in (
        ("workflow inputs", _property(test_input_fuzz.test_inputs_run_or_are_refused_before_anything_runs,
                                      examples, inputs=test_input_fuzz.INPUTS), "inputs"),
        ("fleet files", _property(test_fleet_fuzz.test_a_fleet_file_loads_or_says_what_is_wrong,
                                  examples, content=test_fleet_fuzz.fleets()), "fleet"),
    ):  # fmt: skip
        try:
            test()
        except Exception as exc:  # a property broke: report it
            tally.unclear_errors.append(f"fuzzed {what}: {type(exc).__name__}: {str(exc)[:300]}")
        tally.bad_inputs[name] += examples


# ---------------------------------------------------------------- serve faults


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Load:
    """`callers` coroutines calling `agent(name).embed` without pause; every call bounded."""

    def __init__(self, name: str, callers: int) -> None:
        self.name, self.callers = name, callers
        self.ok = self.failed = self.hung = 0
        self.errors: collections.Counter[str] = collections.Counter()
        self.last_ok = 0.0
        self._stop = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []

    def start(self) -> None:
        self._tasks = [asyncio.create_task(self._caller(i)) for i in range(self.callers)]

    async def _caller(self, i: int) -> None:
        from agents import agent

        client = agent(self.name)
        n = 0
        while not self._stop.is_set():
            n += 1
            try:
                await asyncio.wait_for(client.embed(f"caller {i} call {n}"), HUNG_S)
                self.ok += 1
                self.last_ok = time.monotonic()
            except TimeoutError:
                self.hung += 1
            except Exception as exc:
                self.failed += 1
                self.errors[type(exc).__name__] += 1
                await asyncio.sleep(0.2)

    async def stop(self) -> None:
        self._stop.set()
        await asyncio.gather(*self._tasks)


async def _wait_ok_after(load: Load, since: float, limit: float = 300) -> float:
    """Seconds from `since` until a call that started after it succeeded."""
    from agents import agent

    while time.monotonic() - since < limit:
        t = time.monotonic()
        with contextlib.suppress(Exception):
            await asyncio.wait_for(agent(load.name).embed("recovered?"), 30)
            return time.monotonic() - since if t > since else 0.0
        await asyncio.sleep(0.2)
    return float("inf")


async def _running(name: str, want: int, since: float, limit: float = 300) -> float:
    from agents.fleet import fleet_status

    while time.monotonic() - since < limit:
        with contextlib.suppress(Exception):
            st = (await asyncio.to_thread(fleet_status)).agents.get(name)
            if st is not None and st.replicas_running >= want:
                return time.monotonic() - since
        await asyncio.sleep(0.5)
    return float("inf")


def _replicas(name: str) -> list[Any]:
    from agents.fleet import fleet_status

    return list(fleet_status().agents[name].replicas)


async def serve_faults(tally: Tally, quick: bool, rng: random.Random) -> None:
    import ray
    from ray.cluster_utils import Cluster

    from agents import agent
    from agents.fleet import DeployError, deploy, fleet_status
    from agents.spec import FleetSpec
    from orchestrator import SQLiteStore, step, workflow
    from tests.fixtures.models import build_tiny_bert

    work = Path(tempfile.mkdtemp(prefix="slmchaos-"))
    callers = 16 if quick else 64
    os.environ["SLMFLOW_HTTP_PORT"] = str(_free_port())
    bert = await asyncio.to_thread(build_tiny_bert, work / "bert")
    empty = work / "empty"
    empty.mkdir()
    base = {"model": str(bert), "tasks": ["embed"], "batching": {"max_batch_size": 16, "batch_wait_timeout_s": 0.02}}
    bert_agent = {**base, "name": "tinybert", "device": "cpu"}
    # Two replicas that each need a node's whole (logical) GPU: one on the head, one on the worker.
    node_agent = {**base, "name": "nodebert", "resources": {"num_gpus": 1.0, "num_cpus": 0.5},
                  "autoscaling": {"min_replicas": 2, "max_replicas": 2}}  # fmt: skip
    good = FleetSpec(agents=[bert_agent, node_agent])
    bad = FleetSpec(agents=[{**bert_agent, "model": str(empty)}, node_agent])
    cluster = Cluster(initialize_head=True, head_node_args={"num_cpus": 6, "num_gpus": 1, "include_dashboard": False})
    worker = cluster.add_node(num_cpus=2, num_gpus=1)
    ray.init(address=cluster.address, log_to_driver=False)
    try:
        t0 = time.monotonic()
        await asyncio.to_thread(deploy, good, timeout_s=600)
        tally.notes.append(f"serve: fleet deployed in {time.monotonic() - t0:.1f} s on a head and one worker node")

        load = Load("tinybert", callers)
        load.start()
        node_load = Load("nodebert", max(4, callers // 4))
        node_load.start()
        await asyncio.sleep(5)

        # 1. Replicas killed under load.
        for _ in range(1 if quick else 3):
            (victim,) = await asyncio.to_thread(_replicas, "tinybert")
            t_kill = time.monotonic()
            ray.kill(ray.get_actor(victim.actor_name, namespace="serve"), no_restart=True)
            tally.faults["replica SIGKILLed under load"] += 1
            tally.recovery_s["replica killed: first good call"].append(await _wait_ok_after(load, t_kill))
            await _running("tinybert", 1, t_kill)
            while victim.replica_id in {r.replica_id for r in await asyncio.to_thread(_replicas, "tinybert")}:
                await asyncio.sleep(0.5)
            tally.recovery_s["replica killed: replacement running"].append(await _running("tinybert", 1, t_kill))
            await asyncio.sleep(3)

        # 2. A worker node lost mid-batch of workflow runs that call the agent it hosts.
        @step
        async def embed_it(text: str) -> int:
            return len((await agent("nodebert").embed(text)).embeddings[0])

        @workflow
        def node_flow(text: str):
            return embed_it(text)

        store = SQLiteStore(work / "runs.db")
        batch_n = 60 if quick else 300
        runs_task = asyncio.create_task(
            node_flow.with_options(store=store).arun_many([{"text": f"doc {i}"} for i in range(batch_n)], concurrency=8)
        )
        await asyncio.sleep(3)
        t_lost = time.monotonic()
        cluster.remove_node(worker, allow_graceful=False)
        tally.faults["worker node lost mid-batch"] += 1
        await asyncio.sleep(5 if quick else 15)
        t_join = time.monotonic()
        cluster.add_node(num_cpus=2, num_gpus=1)  # a replacement machine joins
        tally.faults["replacement worker node joined"] += 1
        back = await _running("nodebert", 2, t_join)
        tally.recovery_s["node lost: 2nd replica running, from the replacement node joining"].append(back)
        tally.notes.append(f"node lost: the replacement node joined {t_join - t_lost:.1f} s after the loss")
        records = await asyncio.wait_for(runs_task, 600)
        tally.runs_total += batch_n
        tally.load["workflow runs through the node loss (concurrency 8)"] = batch_n
        tally.runs_lost += sum(1 for r in records if not r.succeeded)
        if any(not r.succeeded for r in records):
            tally.notes.append(f"node loss: {[r.error for r in records if not r.succeeded][:3]}")

        # 3. A redeploy that cannot load, then a good one, under load.
        for _ in range(1 if quick else 2):
            t0 = time.monotonic()
            try:
                await asyncio.to_thread(deploy, bad, timeout_s=300)
                tally.notes.append("the bad redeploy was accepted?")
            except DeployError:
                pass
            tally.faults["failed redeploy (empty model folder) under load"] += 1
            tally.recovery_s["failed redeploy reported"].append(time.monotonic() - t0)
            t0 = time.monotonic()
            await asyncio.to_thread(deploy, good, timeout_s=300)
            tally.faults["good redeploy after a failed one"] += 1
            tally.recovery_s["good redeploy after a failed one"].append(time.monotonic() - t0)

        # 4. Fuzzed HTTP bodies at the ingress, the load still running.
        import httpx
        from hypothesis import strategies as st

        from tests.agents import test_openai_fuzz as tf

        url = (await asyncio.to_thread(fleet_status)).http_url
        examples = 60 if quick else 300

        def fuzz() -> None:
            prop = _property(
                tf.test_every_answer_is_2xx_or_a_json_4xx, examples, body=tf._bodies, path=tf._paths,
                authorized=st.sampled_from([True, True, True, True, True, False]), content_type=st.booleans(),
            )  # fmt: skip
            with httpx.Client(base_url=f"{url}/v1", timeout=HUNG_S) as http:
                prop(http=http)

        try:
            await asyncio.to_thread(fuzz)
        except Exception as exc:
            tally.unclear_errors.append(f"fuzzed HTTP bodies: {type(exc).__name__}: {str(exc)[:300]}")
        tally.bad_inputs["HTTP bodies at the ingress"] += examples

        await asyncio.sleep(2)
        await load.stop()
        await node_load.stop()
        for lo in (load, node_load):
            tally.hung += lo.hung
            tally.load[f"{lo.name}: callers without pause"] = lo.callers
            tally.load[f"{lo.name}: calls ok / failed / hung"] = f"{lo.ok} / {lo.failed} / {lo.hung}"
            if lo.errors:
                tally.load[f"{lo.name}: failures by type"] = dict(lo.errors)
        store.close()
    finally:
        with contextlib.suppress(Exception):
            from ray import serve

            serve.shutdown()
        ray.shutdown()
        cluster.shutdown()
        shutil.rmtree(work, ignore_errors=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer trials and less load (a few minutes)")
    parser.add_argument("--no-serve", action="store_true", help="engine faults only (no Ray)")
    parser.add_argument("--seed", type=int, default=10)
    parser.add_argument("--json", type=Path, help="also write the report here")
    args = parser.parse_args()
    rng = random.Random(args.seed)
    tally = Tally()
    started = time.monotonic()
    load = os.getloadavg()
    root = Path(tempfile.mkdtemp(prefix="slmchaos-"))
    # Our own Ray files, current-cluster file included, never in the shared /tmp/ray.
    ray_tmp = Path(tempfile.mkdtemp(prefix="rc", dir="/tmp"))
    os.environ["RAY_TMPDIR"] = str(ray_tmp)
    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
    try:
        q = args.quick
        kill_loops(root, tally, trials=3 if q else 10, batch=8 if q else 20, rng=rng)
        simultaneous_resumes(root, tally, trials=2 if q else 6)
        hung_steps(root, tally, trials=1 if q else 3)
        home_faults(root, tally)
        corrupted_store(root, tally, rng)
        fuzzed_inputs(tally, examples=50 if q else 300)
        if not args.no_serve:
            asyncio.run(serve_faults(tally, q, rng))
    finally:
        shutil.rmtree(root, ignore_errors=True)
        shutil.rmtree(ray_tmp, ignore_errors=True)
    end_load = os.getloadavg()
    report = {
        "date": dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "machine": f"{os.cpu_count()} cores; load average {load[0]:.1f} at start, {end_load[0]:.1f} at end",
        "mode": "quick" if args.quick else "full",
        "seconds": round(time.monotonic() - started, 1),
        **tally.report(),
    }
    text = json.dumps(report, indent=2)
    print(text)
    if args.json:
        args.json.write_text(text)
    for name, (value, verdict) in report["targets"].items():
        print(f"{verdict}  {name}: {value}", file=sys.stderr)
    raise SystemExit(0 if all(v == "PASS" for _, v in report["targets"].values()) and not tally.unclear_errors else 1)


if __name__ == "__main__":
    main()
