"""Submit workflow runs to a Ray cluster as Ray Jobs, follow them, and fetch their results.

A job ships the user's code (a working directory, normally the cwd) and runs
`python -m cluster.job_entry` on the head node. The entrypoint connects to the cluster,
optionally deploys the fleet file it was given, and runs every input through the workflow
with the engine's default store as one batch named by the job's submission id (so runs land
in the cluster's run store, resumable there).

`result` reads the runs back from that store, never from the job's log: user code prints
to the same log, so any line there can be forged. It submits a small reader job
(`python -m cluster.job_entry results BATCH`) that runs none of the user's code: no working
dir, and results decoded from the store without importing user classes. The reader prints
one line marked with a nonce the caller chose; `result` takes that line from the reader's
log and deletes the reader job. So results come home through the dashboard alone, without
access to the head's disk.

The dashboard's Job API wants Ray's auth token when token auth is on; we send the token Ray
itself would find (see `cluster.auth`), whether or not this process is in Ray's token mode.
"""

from __future__ import annotations

import contextlib
import json
import secrets
import shlex
import time
from pathlib import Path
from typing import Any, Literal

import httpx
from pydantic import BaseModel, ConfigDict, Field

from cluster.auth import MISSING_TOKEN_HELP, find_auth_token
from orchestrator.logging import get_logger

# The reader job's one output line: marker, nonce, JSON.
RESULTS_MARKER = "SLMFLOW_RESULTS"
RESULTS_NONCE_ENV = "SLMFLOW_RESULTS_NONCE"
READER_PREFIX = "slmflow-results-"
# Env vars of a job that the reader job does not need (inline input files, up to 64 KiB each).
_INLINE_ENVS = ("SLMFLOW_JOB_INPUTS", "SLMFLOW_JOB_FLEET")
# Files shipped through an env var when they live outside the working dir; keep them well
# under Linux's 128 KiB limit on one environment string.
_INLINE_LIMIT = 64 * 1024
_DEFAULT_EXCLUDES = [".git", ".venv", "venv", "__pycache__", "*.pyc", ".pytest_cache", ".ruff_cache"]
TERMINAL = {"SUCCEEDED", "FAILED", "STOPPED"}

log = get_logger(component="cluster.jobs")


class JobError(RuntimeError):
    """A job could not be submitted, found or read; the message says which and why."""


class SubmitOptions(BaseModel):
    """Everything `submit` sends to the cluster (validated before anything is uploaded)."""

    model_config = ConfigDict(extra="forbid")

    workflow: str = Field(pattern=r"^[\w.]+:[\w.]+$", description="module:attribute of the workflow")
    inputs: Path
    address: str = Field(description="the dashboard, e.g. http://HEAD:8265")
    fleet: Path | None = None
    working_dir: Path = Field(default_factory=Path.cwd)
    concurrency: int = Field(default=16, ge=1)
    python: str = "python"
    env_vars: dict[str, str] = Field(default_factory=dict)
    pip: list[str] = Field(default_factory=list)
    excludes: list[str] = Field(default_factory=lambda: list(_DEFAULT_EXCLUDES))
    job_id: str | None = None


class RunResult(BaseModel):
    index: int
    run_id: str | None = None
    status: str
    result: Any = None
    error: str | None = None


class JobResult(BaseModel):
    job_id: str
    status: str
    runs: list[RunResult]
    summary: dict[str, Any] | None = None


class JobInfo(BaseModel):
    job_id: str
    status: str
    message: str | None = None
    entrypoint: str | None = None
    start_time: float | None = None
    end_time: float | None = None
    metadata: dict[str, str] = Field(default_factory=dict)


def client(address: str, *, probe_timeout: float = 5.0) -> Any:
    """A `JobSubmissionClient` for the dashboard at `address`, with the user's token.

    The dashboard is probed first with a short timeout (Ray's client uses `requests`
    without one), so a dead address fails in seconds with a clear message.
    """
    from ray.job_submission import JobSubmissionClient

    url = _dashboard_url(address)
    token = find_auth_token()
    headers = token.headers() if token else {}
    try:
        r = httpx.get(f"{url}/api/version", headers=headers, timeout=probe_timeout)
    except httpx.ConnectError as exc:
        raise JobError(
            f"Cannot reach the Ray dashboard at {url}: {exc}. Is the head running with its dashboard?"
        ) from exc
    except httpx.TimeoutException as exc:
        raise JobError(f"The Ray dashboard at {url} did not answer within {probe_timeout:g}s.") from exc
    if r.status_code == 401:
        if token is None:
            raise JobError(
                f"The Ray dashboard at {url} requires an authentication token. {MISSING_TOKEN_HELP}"
            )
        raise JobError(f"The Ray dashboard at {url} refused the token from {token.source}.")
    if r.status_code == 403:
        where = token.source if token else "nowhere"
        raise JobError(
            f"The Ray dashboard at {url} rejected the auth token (from {where}): wrong token for this cluster."
        )
    if r.status_code != 200:
        raise JobError(
            f"{url}/api/version answered HTTP {r.status_code}: is this a Ray dashboard? {r.text[:200]}"
        )
    return JobSubmissionClient(url, headers=headers)


def submit(options: SubmitOptions) -> str:
    """Submit the workflow run as a Ray Job; returns the job (submission) id."""
    working_dir = options.working_dir.resolve()
    if not working_dir.is_dir():
        raise JobError(f"working dir {working_dir} does not exist or is not a directory")
    env_vars = dict(options.env_vars)
    inputs_arg = _ship(options.inputs, working_dir, "inputs", "SLMFLOW_JOB_INPUTS", env_vars)
    args = [options.python, "-m", "cluster.job_entry", options.workflow, "--inputs", inputs_arg]
    args += ["--concurrency", str(options.concurrency)]
    if options.fleet is not None:
        args += ["--fleet", _ship(options.fleet, working_dir, "fleet", "SLMFLOW_JOB_FLEET", env_vars)]
    runtime_env: dict[str, Any] = {"working_dir": str(working_dir), "excludes": options.excludes}
    if env_vars:
        runtime_env["env_vars"] = env_vars
    if options.pip:
        runtime_env["pip"] = list(options.pip)
    # The id is chosen here so the entrypoint can name its batch of runs after it: the
    # results are then read from the run store by that name (see `result`).
    job_id = options.job_id or f"raysubmit_{secrets.token_hex(8)}"
    args += ["--batch", job_id]
    entrypoint = shlex.join(args)
    jsc = client(options.address)
    try:
        job_id = jsc.submit_job(
            entrypoint=entrypoint,
            submission_id=job_id,
            runtime_env=runtime_env,
            metadata={"slmflow": "1", "workflow": options.workflow, "python": options.python},
        )
    except Exception as exc:  # Ray wraps HTTP errors in RuntimeError; name what failed.
        raise JobError(f"Submitting {options.workflow} to {options.address} failed: {exc}") from exc
    log.info("job submitted", job_id=job_id, workflow=options.workflow, address=options.address)
    return str(job_id)


def status(job_id: str, address: str) -> JobInfo:
    info = _call(client(address), "get_job_info", job_id, address)
    return JobInfo(
        job_id=job_id,
        status=str(getattr(info.status, "value", info.status)),
        message=info.message,
        entrypoint=info.entrypoint,
        start_time=(info.start_time or 0) / 1000 or None,
        end_time=(info.end_time or 0) / 1000 or None,
        metadata=dict(info.metadata or {}),
    )


def logs(job_id: str, address: str) -> str:
    return str(_call(client(address), "get_job_logs", job_id, address))


def stop(job_id: str, address: str) -> bool:
    return bool(_call(client(address), "stop_job", job_id, address))


def wait(job_id: str, address: str, timeout: float = 600.0, poll: float = 1.0) -> JobInfo:
    """Poll until the job ends (SUCCEEDED, FAILED or STOPPED) or `timeout` passes."""
    jsc = client(address)
    deadline = time.monotonic() + timeout
    while True:
        st = str(getattr(s := _call(jsc, "get_job_status", job_id, address), "value", s))
        if st in TERMINAL:
            return status(job_id, address)
        if time.monotonic() > deadline:
            raise TimeoutError(f"job {job_id} still {st} after {timeout:g}s")
        time.sleep(poll)


def result(job_id: str, address: str, *, timeout: float = 180.0) -> JobResult:
    """The job's runs as the head's run store records them (see module docs); forged log lines count for nothing."""
    info = status(job_id, address)
    if info.metadata.get("slmflow") != "1":
        raise JobError(f"job {job_id} was not submitted with `slmflow submit`; it has no slmflow results")
    runs = read_runs(job_id, address, python=info.metadata.get("python", "python"), timeout=timeout)
    if info.status in TERMINAL and not runs and info.status != "SUCCEEDED":
        tail = "\n".join(logs(job_id, address).splitlines()[-20:])
        raise JobError(f"job {job_id} {info.status} before recording any run: {info.message or ''}\n{tail}")
    counts: dict[str, int] = {}
    for r in runs:
        counts[r.status] = counts.get(r.status, 0) + 1
    summary = {"workflow": info.metadata.get("workflow"), "runs": len(runs), "by_status": counts}
    return JobResult(job_id=job_id, status=info.status, runs=runs, summary=summary)


def read_runs(batch: str, address: str, *, python: str = "python", timeout: float = 180.0) -> list[RunResult]:
    """The runs of `batch` in the head's run store, read by a reader job that runs no user code."""
    jsc = client(address)
    original = _call(jsc, "get_job_info", batch, address)
    # The same environment as the job (SLMFLOW_HOME decides which store), minus its inline inputs.
    env_vars = {
        k: v for k, v in ((original.runtime_env or {}).get("env_vars") or {}).items() if k not in _INLINE_ENVS
    }
    nonce = secrets.token_hex(16)
    env_vars[RESULTS_NONCE_ENV] = nonce
    try:
        reader = jsc.submit_job(
            entrypoint=shlex.join([python, "-m", "cluster.job_entry", "results", batch]),
            submission_id=f"{READER_PREFIX}{secrets.token_hex(6)}",
            runtime_env={"env_vars": env_vars},
            metadata={"slmflow": "results", "for": batch},
        )
    except Exception as exc:
        raise JobError(f"Submitting the results reader for job {batch} to {address} failed: {exc}") from exc
    try:
        info = wait(reader, address, timeout=timeout, poll=0.5)
        text = str(_call(jsc, "get_job_logs", reader, address))
    except BaseException:
        with contextlib.suppress(Exception):
            jsc.stop_job(reader)
        raise
    _forget_reader(jsc, reader)
    return parse_reader_output(text, nonce, batch, info)


def _forget_reader(jsc: Any, reader: str, grace_s: float = 1.0) -> None:
    """Delete the finished reader job; a reader left behind is clutter (hidden by `jobs list`), not an error.

    Ray's job monitor writes a last status shortly after a job ends; deleted before that, the
    job comes back as a bare "Entrypoint not found." entry. So: wait a moment, delete, check.
    """
    for _ in range(3):
        time.sleep(grace_s)
        try:
            jsc.get_job_info(reader)
        except Exception:
            return  # gone for good
        with contextlib.suppress(Exception):
            jsc.delete_job(reader)


def is_reader_job(job_id: str) -> bool:
    return job_id.startswith(READER_PREFIX)


def parse_reader_output(text: str, nonce: str, batch: str, info: JobInfo | None = None) -> list[RunResult]:
    """The runs from the reader job's log: only the line carrying our nonce counts."""
    prefix = f"{RESULTS_MARKER} {nonce} "
    found = [line[len(prefix) :] for line in text.splitlines() if line.startswith(prefix)]
    if len(found) != 1:
        why = f"{info.status}: {info.message or ''}" if info is not None else ""
        tail = "\n".join(text.splitlines()[-20:])
        raise JobError(f"the results reader for job {batch} gave no results ({why})\n{tail}")
    runs = [RunResult.model_validate(r) for r in json.loads(found[0])["runs"]]
    runs.sort(key=lambda r: r.index)
    return runs


def _call(jsc: Any, method: str, job_id: str, address: str) -> Any:
    try:
        return getattr(jsc, method)(job_id)
    except RuntimeError as exc:
        if "404" in str(exc) or "does not exist" in str(exc):
            raise JobError(f"No job {job_id!r} on the cluster at {address}.") from exc
        raise JobError(f"{method}({job_id!r}) at {address} failed: {exc}") from exc


def _dashboard_url(address: str) -> str:
    address = address.rstrip("/")
    if address.startswith("ray://"):
        raise JobError(
            f"{address!r} is a Ray Client address; jobs go through the dashboard: http://HEAD:8265"
        )
    if not address.startswith(("http://", "https://")):
        address = f"http://{address}"
    return address


def _ship(
    path: Path, working_dir: Path, what: Literal["inputs", "fleet"], env_name: str, env: dict[str, str]
) -> str:
    """The path the job sees for a local file: relative inside the working dir, else inlined."""
    resolved = path.expanduser().resolve()
    if not resolved.is_file():
        raise JobError(f"{what} file {path} does not exist")
    try:
        return str(resolved.relative_to(working_dir))
    except ValueError:
        pass
    data = resolved.read_text()
    if len(data.encode()) > _INLINE_LIMIT:
        raise JobError(
            f"{what} file {path} is outside the working dir {working_dir} and larger than "
            f"{_INLINE_LIMIT // 1024} KiB: move it into the working dir so it ships with the code."
        )
    env[env_name] = data
    return f"env:{env_name}"


def job_id_list(address: str) -> list[JobInfo]:
    out = []
    for info in client(address).list_jobs():
        out.append(
            JobInfo(
                job_id=str(info.submission_id or info.job_id),
                status=str(getattr(info.status, "value", info.status)),
                message=info.message,
                entrypoint=info.entrypoint,
                metadata=dict(info.metadata or {}),
            )
        )
    return out
