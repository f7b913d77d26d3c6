"""Shadow records: a specialist's answers beside an LLM's on live traffic, in the run store.

Each record is one classified input: what the specialist said (and how sure it was), what
the LLM said, whether they agree, who served the answer, and the run and step it came
from. The table ``shadow_calls`` lives in the run store's SQLite file
(``$SLMFLOW_HOME/runs.db``) beside runs and usage; it is written through its own
connection, so the engine's store needs to know nothing about it.

``ShadowStore.report`` says when a specialist is ready to take over: its agreement with
the LLM is at or above a threshold over at least N shadow calls of one version.
"""

from __future__ import annotations

import hashlib
import os
import sqlite3
import threading
import time
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, Field

from orchestrator.store import slmflow_home

Mode = Literal["shadow", "live"]

_SCHEMA = """
CREATE TABLE IF NOT EXISTS shadow_calls (
    id INTEGER PRIMARY KEY AUTOINCREMENT, specialist TEXT NOT NULL, version INTEGER, agent TEXT NOT NULL,
    target TEXT NOT NULL, mode TEXT NOT NULL, run_id TEXT, step TEXT, input_sha256 TEXT NOT NULL,
    specialist_label TEXT, specialist_confidence REAL, target_label TEXT, agree INTEGER,
    served_by TEXT NOT NULL, escalated INTEGER NOT NULL, error TEXT, created_at REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS shadow_specialist ON shadow_calls(specialist, version);
"""
_FIELDS = (
    "specialist", "version", "agent", "target", "mode", "run_id", "step", "input_sha256", "specialist_label",
    "specialist_confidence", "target_label", "agree", "served_by", "escalated", "error", "created_at",
)  # fmt: skip


class ShadowRecord(BaseModel):
    """One input seen by the specialist and/or the LLM.

    ``agree`` is None when only one of them answered (a live call that did not escalate,
    or a call where one side failed). The input itself is not stored, only its hash.
    """

    specialist: str
    version: int | None = None
    agent: str
    target: str
    mode: Mode
    run_id: str | None = None
    step: str | None = None
    input_sha256: str
    specialist_label: str | None = None
    specialist_confidence: float | None = None
    target_label: str | None = None
    agree: bool | None = None
    served_by: str
    escalated: bool = False
    error: str | None = None
    created_at: float = Field(default_factory=time.time)


class ShadowReport(BaseModel):
    specialist: str
    version: int | None
    threshold: float
    min_calls: int
    shadow_calls: int
    compared: int
    agreed: int
    agreement: float | None
    ready: bool
    verdict: str
    live_calls: int
    escalated: int
    errors: int
    disagreements: dict[str, int] = Field(default_factory=dict)  # "specialist -> llm": count


def input_hash(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


class ShadowStore:
    """The ``shadow_calls`` table of a run store file (default ``$SLMFLOW_HOME/runs.db``)."""

    def __init__(self, path: str | os.PathLike[str] | None = None) -> None:
        self.path = Path(path) if path is not None else slmflow_home() / "runs.db"
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        self._conn = sqlite3.connect(str(self.path), check_same_thread=False, isolation_level=None, timeout=30.0)
        self._conn.execute("PRAGMA journal_mode=WAL")
        self._conn.execute("PRAGMA busy_timeout=30000")
        with self._lock:
            self._conn.executescript(_SCHEMA)

    def record(self, rec: ShadowRecord) -> None:
        row = rec.model_dump()
        values = [row[f] for f in _FIELDS]
        values[_FIELDS.index("agree")] = None if rec.agree is None else int(rec.agree)
        values[_FIELDS.index("escalated")] = int(rec.escalated)
        with self._lock:
            self._conn.execute(
                f"INSERT INTO shadow_calls ({', '.join(_FIELDS)}) VALUES ({','.join('?' * len(_FIELDS))})", values
            )

    def records(self, specialist: str, version: int | None = None) -> list[ShadowRecord]:
        where, params = "specialist=?", [specialist]
        if version is not None:
            where += " AND version=?"
            params.append(version)
        with self._lock:
            rows = self._conn.execute(
                f"SELECT {', '.join(_FIELDS)} FROM shadow_calls WHERE {where} ORDER BY id", params
            ).fetchall()
        out = []
        for r in rows:
            d = dict(zip(_FIELDS, r, strict=True))
            d["agree"] = None if d["agree"] is None else bool(d["agree"])
            d["escalated"] = bool(d["escalated"])
            out.append(ShadowRecord(**d))
        return out

    def latest_version(self, specialist: str) -> int | None:
        with self._lock:
            row = self._conn.execute(
                "SELECT version FROM shadow_calls WHERE specialist=? ORDER BY id DESC LIMIT 1", [specialist]
            ).fetchone()
        return row[0] if row else None

    def report(
        self, specialist: str, *, version: int | None = None, threshold: float = 0.95, min_calls: int = 50
    ) -> ShadowReport:
        """Readiness of one version (default: the one recorded last) from its shadow-mode calls.

        Only shadow calls count toward readiness: there both models answered the same live
        inputs. Live calls compare only on escalations, the hard cases, so they would bias it.
        """
        if not 0 <= threshold <= 1:
            raise ValueError(f"threshold must be in [0, 1], got {threshold}")
        if min_calls < 1:
            raise ValueError(f"min_calls must be >= 1, got {min_calls}")
        if version is None:
            version = self.latest_version(specialist)
        recs = self.records(specialist, version)
        shadow = [r for r in recs if r.mode == "shadow"]
        compared = [r for r in shadow if r.agree is not None]
        agreed = sum(1 for r in compared if r.agree)
        agreement = agreed / len(compared) if compared else None
        live = [r for r in recs if r.mode == "live"]
        disagreements: dict[str, int] = {}
        for r in compared:
            if not r.agree:
                key = f"{r.specialist_label} -> {r.target_label}"
                disagreements[key] = disagreements.get(key, 0) + 1
        tag = f"{specialist}" + (f" v{version}" if version is not None else "")
        if not compared:
            ready, verdict = False, f"not ready: no shadow calls of {tag} recorded yet"
        elif len(compared) < min_calls:
            ready, verdict = False, (f"not ready: {len(compared)} of the {min_calls} shadow calls needed "
                                     f"(agreement so far {agreement:.1%})")
        elif agreement is not None and agreement < threshold:
            ready, verdict = False, f"not ready: agreement {agreement:.1%} < {threshold:.1%} over {len(compared)} calls"
        else:
            ready, verdict = True, (f"ready: agreement {agreement:.1%} >= {threshold:.1%} over {len(compared)} calls; "
                                    f"promote with `slmflow specialists promote {specialist}"
                                    + (f" --version {version}`" if version is not None else "`"))
        return ShadowReport(
            specialist=specialist, version=version, threshold=threshold, min_calls=min_calls,
            shadow_calls=len(shadow), compared=len(compared), agreed=agreed,
            agreement=round(agreement, 4) if agreement is not None else None, ready=ready, verdict=verdict,
            live_calls=len(live), escalated=sum(1 for r in live if r.escalated),
            errors=sum(1 for r in recs if r.error), disagreements=dict(sorted(disagreements.items(), key=lambda kv: -kv[1])),
        )

    def close(self) -> None:
        with self._lock:
            self._conn.close()


_STORES: dict[tuple[int, str], ShadowStore] = {}


def default_shadow_store() -> ShadowStore:
    """One store per process and ``$SLMFLOW_HOME``."""
    path = slmflow_home() / "runs.db"
    key = (os.getpid(), str(path))
    if key not in _STORES:
        _STORES[key] = ShadowStore(path)
    return _STORES[key]


__all__ = ["Mode", "ShadowRecord", "ShadowReport", "ShadowStore", "default_shadow_store", "input_hash"]
