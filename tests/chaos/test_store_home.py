"""`SLMFLOW_HOME` read-only or full: a clear error naming the store and what to do, and nothing lost.

Runs already recorded stay intact and readable, the CLI prints a message and no traceback, and
a run the store could not finish recording stays in it, unfinished, for `slmflow resume`.

We run as root, for whom permission bits do not block writes, so the faults are made for real:
a small tmpfs mounted on the home (remounted read-only, or filled up), and a home folder whose
modes forbid writing, read by a root process without the capabilities that override modes
(`setpriv --bounding-set`). Each test is skipped where the container allows neither.
"""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SLMFLOW = Path(sys.executable).parent / "slmflow"

WORKFLOW = '''
import os
from pathlib import Path
from orchestrator import step, workflow

LOG = Path(os.environ["CHAOS_LOG"])


def _did(what: str) -> None:
    with LOG.open("a") as fh:
        fh.write(what + "\\n")


@step
def first(x: int) -> int:
    _did("first")
    return x + 1


@step
def fill(x: int) -> str:
    _did("fill")
    marker = Path(os.environ["CHAOS_FILL"])
    if marker.exists():
        # Fill the store's disk, so that recording this step's output fails.
        try:
            with open(Path(os.environ["SLMFLOW_HOME"]) / "filler", "wb") as fh:
                while True:
                    fh.write(b"\\0" * 65536)
        except OSError:
            pass
    return "y" * 100_000


@step
def last(s: str) -> int:
    _did("last")
    return len(s)


@workflow
def filling(x: int):
    return last(fill(first(x)))
'''


def _root_with_mount() -> bool:
    return os.geteuid() == 0 and shutil.which("mount") is not None


@pytest.fixture
def tmpfs_home(tmp_path: Path) -> Iterator[Path]:
    """A 4 MiB tmpfs as SLMFLOW_HOME, unmounted afterwards."""
    home = tmp_path / "home"
    home.mkdir()
    if not _root_with_mount():
        pytest.skip("needs root and mount(8) to make a real read-only or full filesystem")
    made = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=4m", "tmpfs", str(home)], capture_output=True, text=True)
    if made.returncode != 0:
        pytest.skip(f"this container does not allow mounting a tmpfs: {made.stderr.strip()}")
    try:
        yield home
    finally:
        subprocess.run(["umount", "-l", str(home)], capture_output=True)


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    (tmp_path / "flow_home.py").write_text(WORKFLOW)
    return {
        **os.environ,
        "SLMFLOW_HOME": str(tmp_path / "home"),
        "CHAOS_LOG": str(tmp_path / "did.log"),
        "CHAOS_FILL": str(tmp_path / "fill-now"),
        "PYTHONPATH": f"{tmp_path}{os.pathsep}{ROOT}",
        "SLMFLOW_LOG_LEVEL": "CRITICAL",
    }


def _slmflow(*args: str, env: dict[str, str], prefix: tuple[str, ...] = ()) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*prefix, str(SLMFLOW), *args], cwd=env["PYTHONPATH"].split(os.pathsep)[0], env=env,
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip


def _did(env: dict[str, str]) -> list[str]:
    path = Path(env["CHAOS_LOG"])
    return path.read_text().split() if path.exists() else []


def _stored(env: dict[str, str], prefix: tuple[str, ...] = ()) -> dict[str, dict]:
    listed = _slmflow("runs", "list", "--json", "-n", "100", env=env, prefix=prefix)
    assert listed.returncode == 0, listed.stderr
    return {r["run_id"]: r for r in map(json.loads, listed.stdout.splitlines())}


def _two_good_runs(env: dict[str, str]) -> dict[str, dict]:
    for x in (1, 2):
        done = _slmflow("run", "flow_home:filling", "-i", f"x={x}", "--no-progress", env=env)
        assert done.returncode == 0, done.stderr
    runs = _stored(env)
    assert len(runs) == 2 and all(r["status"] == "succeeded" for r in runs.values())
    return runs


def _integrity(db: Path) -> str:
    conn = sqlite3.connect(db)
    try:
        return conn.execute("PRAGMA integrity_check").fetchone()[0]
    finally:
        conn.close()


def test_a_read_only_home_reads_its_runs_and_refuses_new_ones_cleanly(tmpfs_home: Path, env: dict[str, str]) -> None:
    before = _two_good_runs(env)
    assert subprocess.run(["mount", "-o", "remount,ro", str(tmpfs_home)], capture_output=True).returncode == 0
    try:
        assert _stored(env) == before  # readable, unchanged
        shown = _slmflow("runs", "show", next(iter(before)), env=env)
        assert shown.returncode == 0 and "succeeded" in shown.stdout, shown.stderr
        did = len(_did(env))
        refused = _slmflow("run", "flow_home:filling", "-i", "x=3", "--no-progress", env=env)
        assert refused.returncode == 1
        assert "Traceback" not in refused.stderr, refused.stderr
        assert f"run store {tmpfs_home / 'runs.db'} is read-only" in refused.stderr, refused.stderr
        assert "SLMFLOW_HOME" in refused.stderr and "--no-store" in refused.stderr
        assert "no run was started" in refused.stderr
        assert len(_did(env)) == did  # nothing ran that could not be recorded
        # The advice works: the same run without the store.
        assert _slmflow("run", "flow_home:filling", "-i", "x=3", "--no-store", "--no-progress", env=env).returncode == 0
    finally:
        subprocess.run(["mount", "-o", "remount,rw", str(tmpfs_home)], capture_output=True)
    assert _stored(env) == before
    assert _integrity(tmpfs_home / "runs.db") == "ok"


def test_a_home_this_user_may_not_write_reads_its_runs(tmp_path: Path, env: dict[str, str]) -> None:
    """A folder of someone else's (modes 555/444): root without CAP_DAC_OVERRIDE stands for that user."""
    if os.geteuid() != 0 or shutil.which("setpriv") is None:
        pytest.skip("needs root and setpriv(1) to drop the capabilities that override file modes")
    home = Path(env["SLMFLOW_HOME"])
    before = _two_good_runs(env)
    assert not (home / "runs.db-wal").exists()  # closed cleanly: a read-only open cannot make its -shm
    as_user = ("setpriv", "--bounding-set=-dac_override,-dac_read_search,-fowner", "--")
    probe = subprocess.run([*as_user, "touch", str(tmp_path / "probe")], capture_output=True)
    if probe.returncode != 0:
        pytest.skip(f"setpriv cannot drop capabilities here: {probe.stderr!r}")
    for f in home.iterdir():
        f.chmod(0o444)
    home.chmod(0o555)
    try:
        assert _stored(env, prefix=as_user) == before
        refused = _slmflow("run", "flow_home:filling", "-i", "x=3", "--no-progress", env=env, prefix=as_user)
        assert refused.returncode == 1 and "Traceback" not in refused.stderr, refused.stderr
        assert f"run store {home / 'runs.db'} is read-only" in refused.stderr, refused.stderr
        assert "no run was started" in refused.stderr
    finally:
        home.chmod(0o755)
        for f in home.iterdir():
            f.chmod(0o644)
    assert _stored(env) == before
    assert _integrity(home / "runs.db") == "ok"


def test_a_home_that_fills_up_mid_run_loses_nothing(tmpfs_home: Path, env: dict[str, str]) -> None:
    before = _two_good_runs(env)
    Path(env["CHAOS_FILL"]).touch()
    log = Path(env["CHAOS_LOG"])
    log.unlink()
    full = _slmflow("run", "flow_home:filling", "-i", "x=7", "--no-progress", env=env)
    assert full.returncode == 1
    assert "Traceback" not in full.stderr, full.stderr
    assert f"run store {tmpfs_home / 'runs.db'}: no space left" in full.stderr, full.stderr
    assert _did(env) == ["first", "fill"]
    # The run is not silently lost: the message names it and how to finish it.
    advice = [line for line in full.stderr.splitlines() if "slmflow resume" in line]
    assert advice, full.stderr
    rid = advice[-1].rsplit("slmflow resume ", 1)[1].strip("`. ")
    # Or it ended `failed` with the store's error in its result line; either way it is resumable.
    stored = _stored(env)
    assert {k: stored[k] for k in before} == before
    assert stored[rid]["status"] in ("running", "failed"), stored[rid]
    assert stored[rid]["interrupted"] or stored[rid]["status"] == "failed"
    # Free the space and follow the advice: the run finishes; the step recorded before the
    # disk filled does not run again.
    Path(env["CHAOS_FILL"]).unlink()
    (tmpfs_home / "filler").unlink()
    resumed = _slmflow("resume", rid, env=env)
    assert resumed.returncode == 0, resumed.stderr
    assert json.loads(resumed.stdout.splitlines()[-1])["result"] == 100_000
    assert _did(env) == ["first", "fill", "fill", "last"]
    assert _integrity(tmpfs_home / "runs.db") == "ok"


def test_a_full_home_refuses_a_new_run_cleanly(tmpfs_home: Path, env: dict[str, str]) -> None:
    before = _two_good_runs(env)
    with open(tmpfs_home / "filler", "wb") as fh:
        try:
            while True:
                fh.write(b"\0" * 65536)
        except OSError:
            pass
    full = _slmflow("run", "flow_home:filling", "-i", "x=7", "--no-progress", env=env)
    assert full.returncode == 1
    assert "Traceback" not in full.stderr, full.stderr
    assert f"run store {tmpfs_home / 'runs.db'}: no space left" in full.stderr, full.stderr
    assert _stored(env) .keys() >= before.keys()
    (tmpfs_home / "filler").unlink()
    # Whatever got recorded before the disk was found full can be finished.
    if "slmflow resume" in full.stderr:
        rid = full.stderr.rsplit("slmflow resume ", 1)[1].split("`")[0].strip()
        assert _slmflow("resume", rid, env=env).returncode == 0
    else:
        assert "no run was started" in full.stderr
    runs = _stored(env)
    assert {k: runs[k] for k in before} == before
    assert all(r["status"] == "succeeded" for r in runs.values())
    assert _integrity(tmpfs_home / "runs.db") == "ok"
