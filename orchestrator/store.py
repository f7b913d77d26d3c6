"""Where runs live: a small `Store` interface and its embedded SQLite implementation.

The engine writes step rows in batches: every step that finished in the same turn of the
event loop goes into one transaction, and dependents start only after it commits.
"""

from __future__ import annotations

import abc
import contextlib
import errno
import json
import os
import shutil
import sqlite3
import threading
import time
import weakref
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any, NamedTuple

from orchestrator.errors import OrchestratorError, StoreError
from orchestrator.owners import HOST, owner_gone, owner_token
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
CREATE TABLE IF NOT EXISTS leases (
    owner TEXT PRIMARY KEY, host TEXT NOT NULL, pid INTEGER NOT NULL, renewed_at REAL NOT NULL
) WITHOUT ROWID;
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
# A run's row joined with the lease of the process that owns it (its owner token up to '#').
_LEASE_JOIN = (
    " LEFT JOIN leases ON leases.owner = CASE WHEN instr(owner_token, '#') > 0"
    " THEN substr(owner_token, 1, instr(owner_token, '#') - 1) ELSE owner_token END"
)
_SELECT_RUNS = f"SELECT {_RUN_COLUMNS}, leases.renewed_at FROM runs{_LEASE_JOIN}"
_RENEW_LEASE = (
    "INSERT INTO leases (owner, host, pid, renewed_at) VALUES (?,?,?,?)"
    " ON CONFLICT(owner) DO UPDATE SET renewed_at=excluded.renewed_at"
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


def _no_space(path: Path) -> bool:
    """Whether the store's disk is (nearly) full: SQLite reports a full disk met while it maps
    its shared-memory file as a mere I/O error."""
    try:
        return shutil.disk_usage(path.parent).free < 256 * 1024
    except OSError:
        return False


def _trouble(path: Path, exc: BaseException) -> str:
    """What is wrong with the store: corrupted, read_only, full, io, locked or other."""
    text, code = str(exc), getattr(exc, "errno", None)
    if "not a database" in text or "malformed" in text:
        return "corrupted"
    if ("readonly" in text or "read-only" in text.lower() or "unable to open" in text
            or isinstance(exc, PermissionError) or code == errno.EROFS):  # fmt: skip
        return "read_only"
    if ("disk is full" in text or "No space left" in text or "File too large" in text
            or code in (errno.ENOSPC, errno.EFBIG) or ("disk I/O error" in text and _no_space(path))):  # fmt: skip
        return "full"
    if "disk I/O error" in text:
        return "io"
    if "locked" in text or "busy" in text:
        return "locked"
    return "other"


def _unusable(path: Path, exc: BaseException) -> str:
    """Why the store file cannot be used, and what the user can do, naming the file."""
    text, trouble = str(exc), _trouble(path, exc)
    if trouble == "corrupted":
        return (f"run store {path} is not a usable SQLite database ({text}): the file is corrupted or "
                "not a run store. Move it aside to start a new one (runs recorded in it are then lost "
                "to slmflow), or restore a copy; SLMFLOW_HOME chooses another folder")
    if trouble == "read_only":
        return (f"run store {path} is read-only here ({text}): runs already recorded in it stay readable "
                "(`slmflow runs list`), but nothing new can be recorded. Make the folder and its files "
                "writable by this user, point SLMFLOW_HOME at a writable folder, or run with --no-store")
    if trouble == "full":
        return (f"run store {path}: no space left to record runs ({text}). Runs already recorded in it "
                "stay intact and readable; free space on its disk (or raise the file size limit) and run again")
    if trouble == "io":
        return (f"run store {path}: the disk reported an I/O error ({text}): it may be full, over a file "
                "size limit or failing. Runs already recorded stay as they were; fix the disk and run again")
    if trouble == "locked":
        return (f"run store {path} stayed locked by another writer for longer than this process waits "
                f"({text}); run again when the other writer is done")
    return f"run store {path} cannot be used: {type(exc).__name__}: {text}"


# Leases: a process that owns runs in a store renews a timestamp there every few seconds
# (one row per process, not per run), so a reader on any host can tell that the owner of a
# `running` run is gone even where its pid cannot be checked (another host). One daemon
# thread per process renews the leases of every store it owns runs in.
_leases_lock = threading.Lock()
_leased: dict[tuple[int, str], weakref.ref[SQLiteStore]] = {}
_heartbeat_pid: int | None = None


def _heartbeat() -> None:
    from orchestrator.logging import get_logger
    from orchestrator.owners import lease_renew_s

    failing: set[str] = set()
    pid = os.getpid()
    while True:
        time.sleep(lease_renew_s())
        with _leases_lock:
            stores = [(key, ref()) for key, ref in _leased.items() if key[0] == pid]
        for key, store in stores:
            if store is None or store._closed:
                with _leases_lock:
                    _leased.pop(key, None)
                continue
            try:
                store._renew_lease()
                failing.discard(key[1])
            except Exception as exc:  # the next round tries again; say so once
                if key[1] not in failing:
                    failing.add(key[1])
                    get_logger(component="orchestrator.store").warning(
                        "cannot renew this process's lease in the run store: other hosts may see its runs "
                        "as interrupted", store=key[1], error=f"{type(exc).__name__}: {exc}",
                    )  # fmt: skip


class SQLiteStore(Store):
    """An embedded SQLite database in WAL mode; safe to share between threads and processes."""

    _raise_busy = False
    _closed = False
    _lease_conn: sqlite3.Connection | None = None
    #: Why the store only reads (opened where this user cannot write), or None.
    read_only: str | None = None

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)
        self._spath = str(self.path)
        self._root = self  # the view that owns the lease (the event loop's view is a copy)
        try:
            self._open()
        except (sqlite3.DatabaseError, OSError) as exc:
            conn = getattr(self, "_conn", None)
            if conn is not None:
                conn.close()
            # Where this user cannot write (or the disk is full), runs already recorded stay readable.
            if not (_trouble(self.path, exc) in ("read_only", "full") and self._open_read_only(exc)):
                raise StoreError(_unusable(self.path, exc)) from exc

    def _open_read_only(self, exc: BaseException) -> bool:
        if not self.path.is_file():
            return False
        # A WAL database opens read-only only where its -shm file exists or can be made;
        # elsewhere (a read-only folder after a clean close) `immutable` reads the file as is.
        for extra in ("", "&immutable=1"):
            conn = None
            try:
                conn = sqlite3.connect(
                    f"{self.path.resolve().as_uri()}?mode=ro{extra}", uri=True, check_same_thread=False,
                    isolation_level=None, timeout=30.0,
                )  # fmt: skip
                tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}
            except sqlite3.Error:
                if conn is not None:
                    conn.close()
                continue
            if "runs" not in tables:
                conn.close()
                return False
            self._conn, self._lock, self._fast = conn, threading.Lock(), self
            self.read_only = _unusable(self.path, exc)
            if "leases" not in tables:  # a store made before leases, which cannot be migrated here
                self._select_runs = f"SELECT {_RUN_COLUMNS}, NULL FROM runs"
            return True
        return False

    _select_runs = _SELECT_RUNS

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

    def _error(self, exc: sqlite3.Error) -> Exception:
        """What a failed statement raises: StoreBusy where the loop's view would wait, a StoreError
        saying what is wrong with the store (full, read-only, corrupted), else the error itself
        (a constraint, a bug)."""
        text = str(exc)
        if self._raise_busy and ("locked" in text or "busy" in text):
            return StoreBusy(f"{self.path}: {text} (held by another writer)")
        if type(exc) in (sqlite3.OperationalError, sqlite3.DatabaseError):
            # Opened only for reading: why it could not be opened for writing is the news.
            return StoreError(self.read_only or _unusable(self.path, exc))
        return exc

    def _read(self, sql: str, params: Sequence[Any] = ()) -> list[Any]:
        with self._lock:
            try:
                return self._conn.execute(sql, params).fetchall()
            except sqlite3.DatabaseError as exc:
                raise self._error(exc) from None

    # ---- leases ----

    def _hold_lease(self) -> None:
        """Before this process records itself as the owner of a run here: renew its lease now, and
        from then on every few seconds in the heartbeat thread."""
        global _heartbeat_pid
        key = (os.getpid(), self._spath)
        if key in _leased:
            return
        # On this view's connection: the loop's view raises StoreBusy rather than wait.
        self._write(_RENEW_LEASE, (owner_token(), HOST, key[0], time.time()))
        with _leases_lock:
            _leased[key] = weakref.ref(self._root)
            if _heartbeat_pid != key[0]:  # none yet in this process (or only in the parent of a fork)
                _heartbeat_pid = key[0]
                threading.Thread(target=_heartbeat, name="slmflow-lease", daemon=True).start()

    def _renew_lease(self) -> None:
        # Its own connection, so a renewal never waits behind this process's other writes.
        conn = self._lease_conn
        if conn is None:
            from orchestrator.owners import lease_renew_s

            conn = self._lease_conn = sqlite3.connect(
                str(self.path), check_same_thread=False, isolation_level=None, timeout=lease_renew_s()
            )
        conn.execute(_RENEW_LEASE, (owner_token(), HOST, os.getpid(), time.time()))

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
            except sqlite3.DatabaseError as exc:
                raise self._error(exc) from None

    def create_run(self, row: RunRow) -> None:
        if (os.getpid(), self._spath) not in _leased:
            self._hold_lease()
        self._write(_INSERT_RUN, row)

    def create_runs(self, rows: Sequence[RunRow]) -> None:
        self._hold_lease()
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
        self._hold_lease()
        # One statement, so SQLite's write lock makes the check and the claim one step: of
        # several processes claiming the same run, exactly one sees its row change.
        with self._lock:
            try:
                cursor = self._conn.execute(
                    "UPDATE runs SET status='running', error=NULL, ended_at=NULL, owner_pid=?, owner_host=?,"
                    " owner_token=?, started_at=? WHERE run_id=? AND status=? AND owner_token IS ?",
                    (owner_pid, owner_host, owner_token, started_at, run_id, expect_status, expect_token),
                )
            except sqlite3.DatabaseError as exc:
                raise self._error(exc) from None
            return cursor.rowcount == 1

    def batch_runs(self, batch: str) -> list[RunRecord]:
        rows = self._read(f"{self._select_runs} WHERE batch=? ORDER BY batch_index", (batch,))
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
            try:
                conn.execute("BEGIN")
                for sql, rows in batches:
                    conn.executemany(sql, rows)
                conn.execute("COMMIT")
            except BaseException as exc:
                # A full disk may have ended the transaction already (SQLite rolls back itself).
                if conn.in_transaction:
                    with contextlib.suppress(sqlite3.Error):
                        conn.execute("ROLLBACK")
                if isinstance(exc, sqlite3.DatabaseError):
                    raise self._error(exc) from None
                raise

    def _run_from_row(self, row: sqlite3.Row | tuple[Any, ...], steps: list[StepRecord]) -> RunRecord:
        (run_id, workflow, target, ghash, status, inputs, result, error, created, started, ended, pid, host,
         warnings, code_hashes, token, batch, batch_index, lease) = row  # fmt: skip
        # Pending runs of a batch name the batch's process: they are stranded if it died too.
        interrupted = status in ("running", "pending") and owner_gone(pid, host, token, lease)
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
        found = self._read(f"{self._select_runs} WHERE run_id=?", (run_id,))
        if not found:
            raise KeyError(f"no run {run_id!r} in {self.path}")
        step_rows = self._read(
            "SELECT run_id, step, name, status, attempts, history, started_at, ended_at, input_ids,"
            " error_type, error_message, traceback, fallback_used, skip_reason, parent, map_index"
            " FROM steps WHERE run_id=? ORDER BY seq, map_index",
            (run_id,),
        )
        return self._run_from_row(found[0], [_step_record(r) for r in step_rows])

    def load_outputs(self, run_id: str) -> dict[str, StoredOutput]:
        rows = self._read("SELECT step, status, output, skip_reason FROM steps WHERE run_id=?", (run_id,))
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
        rows = self._read(f"{self._select_runs} {clause} ORDER BY created_at DESC LIMIT ?", [*params, limit])
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
        rows = self._read(f"SELECT {', '.join(_USAGE_FIELDS)} FROM usage {clause} ORDER BY id", params)
        return [UsageRecord(**dict(zip(_USAGE_FIELDS, r, strict=True))) for r in rows]

    def close(self) -> None:
        self._closed = True
        with _leases_lock:
            _leased.pop((os.getpid(), self._spath), None)
        with self._lock:
            self._conn.close()
        if self._lease_conn is not None:
            self._lease_conn.close()
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
