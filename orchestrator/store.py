"""Where runs live: a small `Store` interface and its embedded SQLite implementation.

The engine writes step rows in batches: every step that finished in the same turn of the
event loop goes into one transaction, and dependents start only after it commits.
"""

from __future__ import annotations

import abc
import json
import os
import sqlite3
import threading
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any, NamedTuple

from orchestrator.errors import OrchestratorError, StoreError
from orchestrator.owners import owner_alive
from orchestrator.records import (
    AttemptRecord,
    RunRecord,
    RunStatus,
    StepRecord,
    StepStatus,
    UsageRecord,
)
from orchestrator.serialization import loads


class StepRow(NamedTuple):
    """One step's state as written by the engine (`output` is serialised text or None)."""

    run_id: str
    step: str
    name: str
    seq: float
    status: str
    attempts: int
    history: str | None  # JSON list of [attempt, started, ended, error_type, error_message]
    started_at: float | None
    ended_at: float | None
    input_ids: str  # JSON list
    error_type: str | None
    error_message: str | None
    traceback: str | None
    fallback_used: int
    skip_reason: str | None
    parent: str | None
    map_index: int | None
    output: str | None


class RunRow(NamedTuple):
    run_id: str
    workflow: str
    target: str | None
    graph_hash: str
    status: str
    inputs: str  # serialised
    created_at: float
    started_at: float | None
    owner_pid: int | None
    owner_host: str | None
    code_hashes: str | None = None  # JSON {step name: hash of its code}
    owner_token: str | None = None
    batch: str | None = None
    batch_index: int | None = None


class StoredOutput(NamedTuple):
    status: StepStatus
    output: str | None
    skip_reason: str | None


class StoreBusy(OrchestratorError):
    """Another writer holds the store longer than code on the event loop may wait for it."""


class Store(abc.ABC):
    """Persistence of runs, steps and usage. Implementations must make `write_steps` atomic."""

    def nowait(self) -> Store:
        """A view for code on the event loop: the same store, but a write that would wait for
        another writer raises StoreBusy at once (the caller retries on this store in a thread).
        Stores that never wait return themselves."""
        return self

    @abc.abstractmethod
    def create_run(self, row: RunRow) -> None: ...

    @abc.abstractmethod
    def mark_run(
        self,
        run_id: str,
        status: RunStatus,
        *,
        result: str | None = None,
        error: str | None = None,
        started_at: float | None = None,
        ended_at: float | None = None,
        owner_pid: int | None = None,
        owner_host: str | None = None,
        warnings: str | None = None,
    ) -> None: ...

    @abc.abstractmethod
    def create_runs(self, rows: Sequence[RunRow]) -> None:
        """Insert every run in one transaction (a batch's inputs, recorded before any starts)."""

    @abc.abstractmethod
    def claim_run(
        self,
        run_id: str,
        *,
        expect_status: str,
        expect_token: str | None,
        owner_pid: int,
        owner_host: str,
        owner_token: str,
        started_at: float,
    ) -> bool:
        """Atomically make the run `running` under a new owner, if it still has the status and
        owner token the caller saw; False when another process got there first."""

    @abc.abstractmethod
    def batch_runs(self, batch: str) -> list[RunRecord]:
        """The runs of a batch, in input order, without their steps."""

    @abc.abstractmethod
    def write_steps(self, rows: Sequence[StepRow]) -> None:
        """Write (insert or replace) every row in one transaction."""

    @abc.abstractmethod
    def get_run(self, run_id: str) -> RunRecord:
        """The run with its steps; KeyError if unknown."""

    @abc.abstractmethod
    def load_outputs(self, run_id: str) -> dict[str, StoredOutput]: ...

    @abc.abstractmethod
    def list_runs(
        self, limit: int = 20, status: RunStatus | None = None, workflow: str | None = None
    ) -> list[RunRecord]:
        """Most recent first, without their steps."""

    @abc.abstractmethod
    def record_usage(self, records: Iterable[UsageRecord]) -> None: ...

    @abc.abstractmethod
    def list_usage(self, run_id: str | None = None, agent: str | None = None) -> list[UsageRecord]: ...

    def close(self) -> None:  # noqa: B027 - optional for implementations
        pass


_SCHEMA = """
CREATE TABLE IF NOT EXISTS runs (
    run_id TEXT PRIMARY KEY, workflow TEXT NOT NULL, target TEXT, graph_hash TEXT NOT NULL,
    status TEXT NOT NULL, inputs TEXT NOT NULL, result TEXT, error TEXT,
    created_at REAL NOT NULL, started_at REAL, ended_at REAL, owner_pid INTEGER, owner_host TEXT,
    warnings TEXT, code_hashes TEXT, owner_token TEXT, batch TEXT, batch_index INTEGER
);
CREATE INDEX IF NOT EXISTS runs_created ON runs(created_at);
CREATE TABLE IF NOT EXISTS steps (
    run_id TEXT NOT NULL, step TEXT NOT NULL, name TEXT NOT NULL, seq REAL NOT NULL,
    status TEXT NOT NULL, attempts INTEGER NOT NULL, history TEXT,
    started_at REAL, ended_at REAL, input_ids TEXT, error_type TEXT, error_message TEXT,
    traceback TEXT, fallback_used INTEGER NOT NULL DEFAULT 0, skip_reason TEXT,
    parent TEXT, map_index INTEGER, output TEXT,
    PRIMARY KEY (run_id, step)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS usage (
    id INTEGER PRIMARY KEY AUTOINCREMENT, run_id TEXT, step TEXT, agent TEXT NOT NULL,
    task TEXT NOT NULL, model TEXT NOT NULL, tokens_in INTEGER NOT NULL, tokens_out INTEGER NOT NULL,
    queue_ms REAL NOT NULL, compute_ms REAL NOT NULL, replica_id TEXT, cost_usd REAL NOT NULL,
    escalated INTEGER NOT NULL, error TEXT, created_at TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS usage_run ON usage(run_id);
CREATE INDEX IF NOT EXISTS usage_agent ON usage(agent);
"""

# Columns added after the first release: stores made before them get them on open.
_ADDED_RUN_COLUMNS = {
    "warnings": "TEXT",
    "code_hashes": "TEXT",
    "owner_token": "TEXT",
    "batch": "TEXT",
    "batch_index": "INTEGER",
}
_RUN_COLUMNS = (
    "run_id, workflow, target, graph_hash, status, inputs, result, error, created_at, started_at, ended_at,"
    " owner_pid, owner_host, warnings, code_hashes, owner_token, batch, batch_index"
)
_INSERT_RUN = (
    "INSERT INTO runs (run_id, workflow, target, graph_hash, status, inputs, created_at, started_at,"
    " owner_pid, owner_host, code_hashes, owner_token, batch, batch_index) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?)"
)

_INSERT_STEP = "INSERT OR REPLACE INTO steps VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)"
# Most rows are a step that started or succeeded at its first try: every error, retry and
# map column is empty. Binding only the filled ones makes the per-step commit of a chain
# measurably cheaper (about 1.4 us of 11 here); the others take their defaults.
_INSERT_PLAIN_STEP = (
    "INSERT OR REPLACE INTO steps (run_id, step, name, seq, status, attempts, started_at, ended_at,"
    " input_ids, output) VALUES (?,?,?,?,?,?,?,?,?,?)"
)
_EMPTY_TAIL = (None, None, None, 0, None, None, None)  # error_type ... map_index, as StepRow orders them

_USAGE_FIELDS = (
    "run_id", "step", "agent", "task", "model", "tokens_in", "tokens_out", "queue_ms", "compute_ms",
    "replica_id", "cost_usd", "escalated", "error", "created_at",
)  # fmt: skip
_INSERT_USAGE = f"INSERT INTO usage ({', '.join(_USAGE_FIELDS)}) VALUES ({','.join('?' * len(_USAGE_FIELDS))})"


# How long a write from the event loop may wait for another writer's lock before it is handed
# to a thread: a commit elsewhere takes microseconds, so this covers ordinary contention,
# while a long transaction elsewhere no longer stalls every run of the process.
_LOOP_WAIT_S = 0.05


def _unusable(path: Path, exc: BaseException) -> str:
    """Why the store file cannot be used, and what the user can do, naming the file."""
    text = str(exc)
    if "not a database" in text or "malformed" in text:
        return (f"run store {path} is not a usable SQLite database ({text}): the file is corrupted or "
                "not a run store. Move it aside to start a new one (runs recorded in it are then lost "
                "to slmflow), or restore a copy; SLMFLOW_HOME chooses another folder")
    if "readonly" in text or "read-only" in text or isinstance(exc, PermissionError) or "unable to open" in text:
        return (f"run store {path} cannot be opened for writing ({text}): make the folder writable, or "
                "point SLMFLOW_HOME at a writable folder")
    if "disk is full" in text or "No space left" in text:
        return f"run store {path}: the disk is full ({text}); free space and run again (nothing was lost)"
    return f"run store {path} cannot be used: {type(exc).__name__}: {text}"


class SQLiteStore(Store):
    """An embedded SQLite database in WAL mode; safe to share between threads and processes."""

    _raise_busy = False

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)
        try:
            self._open()
        except (sqlite3.DatabaseError, OSError) as exc:
            raise StoreError(_unusable(self.path, exc)) from exc

    def _open(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        self._conn = sqlite3.connect(
            str(self.path), check_same_thread=False, isolation_level=None, timeout=30.0
        )
        # Each commit of a chain step writes its changed pages whole to the WAL, and the
        # checkpoint syncs them: 2 KiB pages halve that I/O for the small rows most steps
        # write (measured: 14.3 vs 16.3 us a step, mean). Only takes effect on a new file.
        self._conn.execute("PRAGMA page_size=2048")
        self._conn.execute("PRAGMA journal_mode=WAL")
        # NORMAL in WAL mode survives a killed process (the crash we resume from); only an
        # OS crash or power loss can lose the last commits.
        self._conn.execute("PRAGMA synchronous=NORMAL")
        self._conn.execute("PRAGMA busy_timeout=30000")
        with self._lock:
            self._conn.executescript(_SCHEMA)
            self._migrate()
        # The view for the event loop shares everything but its connection and lock, so a
        # patient write in a thread (holding `_lock`) never blocks it.
        fast = self._fast = object.__new__(SQLiteStore)
        fast.__dict__.update(self.__dict__)
        fast._lock = threading.Lock()
        fast._conn = sqlite3.connect(
            str(self.path), check_same_thread=False, isolation_level=None, timeout=_LOOP_WAIT_S
        )
        fast._conn.execute("PRAGMA synchronous=NORMAL")  # per connection (WAL mode is the file's)
        fast._raise_busy = True

    def nowait(self) -> Store:
        return self._fast

    def _busy(self, exc: sqlite3.OperationalError) -> Exception:
        text = str(exc)
        if self._raise_busy and ("locked" in text or "busy" in text):
            return StoreBusy(f"{self.path}: {text} (held by another writer)")
        return exc

    def _migrate(self) -> None:
        have = {row[1] for row in self._conn.execute("PRAGMA table_info(runs)")}
        for column, kind in _ADDED_RUN_COLUMNS.items():
            if column not in have:
                try:
                    self._conn.execute(f"ALTER TABLE runs ADD COLUMN {column} {kind}")
                except sqlite3.OperationalError as exc:
                    if "duplicate column" not in str(exc):  # another process added it just now
                        raise
        self._conn.execute("CREATE INDEX IF NOT EXISTS runs_batch ON runs(batch) WHERE batch IS NOT NULL")

    def __repr__(self) -> str:
        return f"SQLiteStore({str(self.path)!r})"

    def _write(self, sql: str, params: Sequence[Any] = ()) -> None:
        with self._lock:
            try:
                self._conn.execute(sql, params)
            except sqlite3.OperationalError as exc:
                raise self._busy(exc) from None

    def create_run(self, row: RunRow) -> None:
        self._write(_INSERT_RUN, row)

    def create_runs(self, rows: Sequence[RunRow]) -> None:
        self._insert_all((_INSERT_RUN, rows))

    def claim_run(
        self,
        run_id: str,
        *,
        expect_status: str,
        expect_token: str | None,
        owner_pid: int,
        owner_host: str,
        owner_token: str,
        started_at: float,
    ) -> bool:
        # One statement, so SQLite's write lock makes the check and the claim one step: of
        # several processes claiming the same run, exactly one sees its row change.
        with self._lock:
            try:
                cursor = self._conn.execute(
                    "UPDATE runs SET status='running', error=NULL, ended_at=NULL, owner_pid=?, owner_host=?,"
                    " owner_token=?, started_at=? WHERE run_id=? AND status=? AND owner_token IS ?",
                    (owner_pid, owner_host, owner_token, started_at, run_id, expect_status, expect_token),
                )
            except sqlite3.OperationalError as exc:
                raise self._busy(exc) from None
            return cursor.rowcount == 1

    def batch_runs(self, batch: str) -> list[RunRecord]:
        with self._lock:
            rows = self._conn.execute(
                f"SELECT {_RUN_COLUMNS} FROM runs WHERE batch=? ORDER BY batch_index", (batch,)
            ).fetchall()
        return [self._run_from_row(r, []) for r in rows]

    def mark_run(
        self,
        run_id: str,
        status: RunStatus,
        *,
        result: str | None = None,
        error: str | None = None,
        started_at: float | None = None,
        ended_at: float | None = None,
        owner_pid: int | None = None,
        owner_host: str | None = None,
        warnings: str | None = None,
    ) -> None:
        sets = ["status=?", "error=?"]
        params: list[Any] = [str(status), error]
        for column, value in (
            ("result", result),
            ("started_at", started_at),
            ("ended_at", ended_at),
            ("owner_pid", owner_pid),
            ("owner_host", owner_host),
            ("warnings", warnings),
        ):
            if value is not None:
                sets.append(f"{column}=?")
                params.append(value)
        params.append(run_id)
        self._write(f"UPDATE runs SET {', '.join(sets)} WHERE run_id=?", params)

    def write_steps(self, rows: Sequence[StepRow]) -> None:
        plain: list[tuple[Any, ...]] = []
        full: list[Sequence[Any]] = []
        for r in rows:
            if r[6] is None and r[10:17] == _EMPTY_TAIL:
                plain.append((r[0], r[1], r[2], r[3], r[4], r[5], r[7], r[8], r[9], r[17]))
            else:
                full.append(r)
        if len(rows) == 1:
            # A chain's hot path: the generic single-row case of `_insert_all` costs
            # 0.3-1 us more per step here (A/B, median of 60 runs).
            if plain:
                self._write(_INSERT_PLAIN_STEP, plain[0])
            else:
                self._write(_INSERT_STEP, full[0])
        else:
            self._insert_all((_INSERT_PLAIN_STEP, plain), (_INSERT_STEP, full))

    def _insert_all(self, *batches: tuple[str, Sequence[Sequence[Any]]]) -> None:
        """Insert every row of every (statement, rows) batch in one transaction."""
        batches = tuple((sql, rows) for sql, rows in batches if rows)
        if not batches:
            return
        if len(batches) == 1 and len(batches[0][1]) == 1:
            # In autocommit mode one statement is its own transaction: one round trip
            # instead of three (BEGIN, INSERT, COMMIT).
            self._write(batches[0][0], batches[0][1][0])
            return
        with self._lock:
            conn = self._conn
            conn.execute("BEGIN")
            try:
                for sql, rows in batches:
                    conn.executemany(sql, rows)
            except BaseException as exc:
                conn.execute("ROLLBACK")
                if isinstance(exc, sqlite3.OperationalError):
                    raise self._busy(exc) from None
                raise
            conn.execute("COMMIT")

    def _run_from_row(self, row: sqlite3.Row | tuple[Any, ...], steps: list[StepRecord]) -> RunRecord:
        (run_id, workflow, target, ghash, status, inputs, result, error, created, started, ended, pid, host,
         warnings, code_hashes, token, batch, batch_index) = row  # fmt: skip
        # Pending runs of a batch name the batch's process: they are stranded if it died too.
        interrupted = status in ("running", "pending") and owner_alive(pid, host, token) is False
        return RunRecord(
            run_id=run_id,
            workflow=workflow,
            target=target,
            graph_hash=ghash,
            status=RunStatus(status),
            inputs=loads(inputs) if inputs else {},
            result=loads(result) if result is not None else None,
            error=error,
            created_at=created,
            started_at=started,
            ended_at=ended,
            steps=steps,
            owner_pid=pid,
            owner_host=host,
            owner_token=token,
            warnings=json.loads(warnings) if warnings else [],
            code_hashes=json.loads(code_hashes) if code_hashes else None,
            batch=batch,
            batch_index=batch_index,
            interrupted=interrupted,
        )

    def get_run(self, run_id: str) -> RunRecord:
        with self._lock:
            row = self._conn.execute(f"SELECT {_RUN_COLUMNS} FROM runs WHERE run_id=?", (run_id,)).fetchone()
            if row is None:
                raise KeyError(f"no run {run_id!r} in {self.path}")
            step_rows = self._conn.execute(
                "SELECT run_id, step, name, status, attempts, history, started_at, ended_at, input_ids,"
                " error_type, error_message, traceback, fallback_used, skip_reason, parent, map_index"
                " FROM steps WHERE run_id=? ORDER BY seq, map_index",
                (run_id,),
            ).fetchall()
        return self._run_from_row(row, [_step_record(r) for r in step_rows])

    def load_outputs(self, run_id: str) -> dict[str, StoredOutput]:
        with self._lock:
            rows = self._conn.execute(
                "SELECT step, status, output, skip_reason FROM steps WHERE run_id=?", (run_id,)
            ).fetchall()
        return {step: StoredOutput(StepStatus(status), output, skip) for step, status, output, skip in rows}

    def list_runs(
        self, limit: int = 20, status: RunStatus | None = None, workflow: str | None = None
    ) -> list[RunRecord]:
        where, params = [], []
        if status is not None:
            where.append("status=?")
            params.append(str(status))
        if workflow is not None:
            where.append("workflow=?")
            params.append(workflow)
        clause = f"WHERE {' AND '.join(where)}" if where else ""
        with self._lock:
            rows = self._conn.execute(
                f"SELECT {_RUN_COLUMNS} FROM runs {clause} ORDER BY created_at DESC LIMIT ?", [*params, limit]
            ).fetchall()
        return [self._run_from_row(r, []) for r in rows]

    def record_usage(self, records: Iterable[UsageRecord]) -> None:
        rows = [
            (
                r.run_id, r.step, r.agent, r.task, r.model, r.tokens_in, r.tokens_out, r.queue_ms,
                r.compute_ms, r.replica_id, r.cost_usd, int(r.escalated), r.error, r.created_at.isoformat(),
            )
            for r in records
        ]
        self._insert_all((_INSERT_USAGE, rows))

    def list_usage(self, run_id: str | None = None, agent: str | None = None) -> list[UsageRecord]:
        where, params = [], []
        if run_id is not None:
            where.append("run_id=?")
            params.append(run_id)
        if agent is not None:
            where.append("agent=?")
            params.append(agent)
        clause = f"WHERE {' AND '.join(where)}" if where else ""
        with self._lock:
            rows = self._conn.execute(
                f"SELECT {', '.join(_USAGE_FIELDS)} FROM usage {clause} ORDER BY id", params
            ).fetchall()
        return [UsageRecord(**dict(zip(_USAGE_FIELDS, r, strict=True))) for r in rows]

    def close(self) -> None:
        with self._lock:
            self._conn.close()
        if self._fast is not self:
            with self._fast._lock:
                self._fast._conn.close()


def _step_record(row: tuple[Any, ...]) -> StepRecord:
    (run_id, step, name, status, attempts, history, started, ended, input_ids, etype, emsg, tb, fb, skip,
     parent, index) = row  # fmt: skip
    if history:
        attempts_log = [
            AttemptRecord(attempt=a, started_at=s, ended_at=e, error_type=t, error_message=m)
            for a, s, e, t, m in json.loads(history)
        ]
    elif attempts == 1 and started is not None:
        # A first attempt that succeeded is not written out separately (hot path): rebuild it.
        attempts_log = [AttemptRecord(attempt=1, started_at=started, ended_at=ended)]
    else:
        attempts_log = []
    return StepRecord(
        run_id=run_id,
        step=step,
        name=name,
        status=StepStatus(status),
        attempts=attempts,
        history=attempts_log,
        started_at=started,
        ended_at=ended,
        input_ids=json.loads(input_ids) if input_ids else [],
        error_type=etype,
        error_message=emsg,
        traceback=tb,
        fallback_used=bool(fb),
        skip_reason=skip,
        parent=parent,
        map_index=index,
    )


def slmflow_home() -> Path:
    return Path(os.environ.get("SLMFLOW_HOME") or Path.home() / ".slmflow")


_DEFAULTS: dict[tuple[int, str], SQLiteStore] = {}


def default_store() -> SQLiteStore:
    """The SQLite store at `$SLMFLOW_HOME/runs.db` (default ~/.slmflow), one per process and path."""
    path = slmflow_home() / "runs.db"
    key = (os.getpid(), str(path))
    store = _DEFAULTS.get(key)
    if store is None:
        store = _DEFAULTS[key] = SQLiteStore(path)
    return store
