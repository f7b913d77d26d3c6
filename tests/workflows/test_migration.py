"""Migration: PII redaction, grouping the sample log into its known task types, reports and exports."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from orchestrator import SQLiteStore, UsageRecord
from workflows import samples
from workflows.migration import (
    LogError,
    analyze,
    export_group,
    luhn_valid,
    make_embedder,
    read_log,
    read_store,
    redact,
)
from workflows.migration.clustering import cluster, silhouette

SAMPLE_LOG = Path(samples.DATA_DIR) / "llm_calls.jsonl"
LABELS: dict[str, str] = json.loads((Path(samples.DATA_DIR) / "llm_calls.labels.json").read_text())
PII = samples.PII_EMAILS + samples.PII_PHONES + samples.PII_CARDS


def _digits(s: str) -> str:
    return "".join(c for c in s if c.isdigit())


def test_shipped_samples_equal_what_the_generator_writes() -> None:
    for name, content in samples.render().items():
        assert (samples.DATA_DIR / name).read_text(encoding="utf-8") == content, f"{name} is stale: run python -m workflows.samples"


@pytest.mark.parametrize("value", PII)
def test_every_planted_pii_value_is_redacted(value: str) -> None:
    out = redact(f"contact: {value}, thanks")
    assert value not in out
    assert out.startswith("contact: [") and out.endswith("], thanks")


@pytest.mark.parametrize("text", [
    "order #A10234 arrived", "INVOICE INV-2024-0123", "Date: 2024-03-01", "TOTAL DUE: 12345.67 USD",
    "Requested amount: $25,000", "1234 5678 9012 3456",  # 16 digits failing Luhn: not a card
    "3 x yoga mat @ 123.45", "ts 1730000000",
])
def test_ids_amounts_and_dates_are_kept(text: str) -> None:
    assert redact(text) == text


# Not written to fit our patterns: phone numbers as people paste them (no separators, odd
# grouping) and IBANs from the ISO 13616 / bank documentation examples, in print and
# electronic form. Each must go; the text around it must stay.
@pytest.mark.parametrize(("value", "token"), [
    ("4155550132", "[PHONE]"),  # US, digits only
    ("+442079460958", "[PHONE]"),  # UK, E.164
    ("(212)5550198", "[PHONE]"),
    ("020 7946 0958", "[PHONE]"),  # UK national format
    ("+41 44 668 18 00", "[PHONE]"),  # Zurich, pairs
    ("650.253.0000", "[PHONE]"),
    ("GB82 WEST 1234 5698 7654 32", "[IBAN]"),
    ("GB82WEST12345698765432", "[IBAN]"),
    ("DE89 3704 0044 0532 0130 00", "[IBAN]"),
    ("FR1420041010050500013M02606", "[IBAN]"),
    ("NL91ABNA0417164300", "[IBAN]"),
])
def test_phone_numbers_and_ibans_in_any_layout_are_redacted(value: str, token: str) -> None:
    counts: Counter[str] = Counter()
    assert redact(f"Please pay to {value} by Friday.", counts) == f"Please pay to {token} by Friday."
    assert sum(counts.values()) == 1


@pytest.mark.parametrize("text", [
    "GB82 WEST 1234 5698 7654 33",  # IBAN with a wrong check digit
    "ts 1730000000",  # a 10-digit number that is no valid phone number
    "order 20240301 shipped", "SKU 1234567", "amount 1500000",
])
def test_invalid_ibans_and_plain_numbers_are_kept(text: str) -> None:
    assert redact(text) == text


def test_luhn() -> None:
    assert luhn_valid("4111 1111 1111 1111")
    assert not luhn_valid("4111 1111 1111 1112")
    assert not luhn_valid("4111")


def test_kmeans_recovers_separated_blobs() -> None:
    rng = np.random.default_rng(1)
    centres = rng.normal(size=(4, 16))
    x = np.concatenate([c + 0.05 * rng.normal(size=(30, 16)) for c in centres])
    truth = np.repeat(np.arange(4), 30)
    result = cluster(x, k_max=8)
    assert result.k == 4
    for j in range(4):
        assert len(set(result.labels[truth == j])) == 1
    assert silhouette(x, result.labels) == pytest.approx(result.silhouette)


def test_bad_log_lines_name_file_and_line(tmp_path: Path) -> None:
    good = SAMPLE_LOG.read_text().splitlines()[0]
    bad = tmp_path / "log.jsonl"
    bad.write_text(good + "\n{not json\n")
    with pytest.raises(LogError, match=r"log.jsonl:2: not valid JSON"):
        read_log(bad)
    bad.write_text(good + "\n" + json.dumps({"request": {"messages": []}, "response": {"usage": {"prompt_tokens": -1}}}) + "\n")
    with pytest.raises(LogError, match=r"log.jsonl:2: field 'response.usage.prompt_tokens'"):
        read_log(bad)
    with pytest.raises(LogError, match="no such log file"):
        read_log(tmp_path / "missing.jsonl")


@pytest.fixture(scope="module")
def analysed() -> tuple[object, list[object], Counter[str]]:
    pii: Counter[str] = Counter()
    calls = read_log(SAMPLE_LOG, pii_counts=pii)
    # The fleet's MiniLM in-process through the agents runtime (no cluster needed).
    return analyze(calls, make_embedder("local"), pii_counts=pii), calls, pii


@pytest.mark.slow  # embeds with the fleet's real MiniLM (in-process)
def test_analyze_finds_the_task_types_the_log_was_built_from(analysed) -> None:
    analysis, calls, _ = analysed
    assert analysis.k == len(samples.TASK_TYPES)
    assert sum(g.count for g in analysis.groups) == len(calls) == len(LABELS)
    for g in analysis.groups:
        counts = Counter(LABELS[cid] for cid in g.call_ids)
        purity = counts.most_common(1)[0][1] / g.count
        assert purity >= 0.95, f"group {g.id} mixes task types: {counts}"
    for task in samples.TASK_TYPES:
        members = [cid for cid, t in LABELS.items() if t == task]
        best = max(sum(cid in g.call_ids for cid in members) for g in analysis.groups)
        assert best / len(members) >= 0.95, f"task {task} is split across groups"


@pytest.mark.slow  # embeds with the fleet's real MiniLM (in-process)
def test_group_report_figures(analysed) -> None:
    analysis, calls, _ = analysed
    assert sum(g.spend_share for g in analysis.groups) == pytest.approx(1.0)
    assert analysis.total_cost_usd == pytest.approx(sum(c.cost_usd for c in calls))
    by_task = {Counter(LABELS[c] for c in g.call_ids).most_common(1)[0][0]: g for g in analysis.groups}
    sentiment = by_task["sentiment"]
    assert sentiment.count == 70 and sentiment.candidate  # frequent, costly enough, narrow
    assert sentiment.p50_latency_ms == pytest.approx(
        float(np.median([c.latency_ms for c in calls if LABELS[c.id] == "sentiment"])))
    assert not by_task["summarization"].candidate  # 15 calls: under the default 20
    for g in analysis.groups:
        assert 0 < g.projected_cost_usd < g.cost_usd
        assert g.example is not None


@pytest.mark.slow  # embeds with the fleet's real MiniLM (in-process)
def test_pii_never_reaches_the_analysis_or_the_export(analysed, tmp_path: Path) -> None:
    analysis, calls, pii = analysed
    assert sum(pii.values()) > 0 and set(pii) == {"email", "phone", "card"}
    dumped = analysis.model_dump_json() + json.dumps([c.model_dump() for c in calls])
    out = tmp_path / "g.jsonl"
    for g in analysis.groups:
        export_group(analysis, calls, g.id, out)
        dumped += out.read_text()
    for value in PII:
        assert value not in dumped
    for card in samples.PII_CARDS:
        assert _digits(card) not in dumped


@pytest.mark.slow  # embeds with the fleet's real MiniLM (in-process)
def test_export_writes_chat_format(analysed, tmp_path: Path) -> None:
    analysis, calls, _ = analysed
    g = next(g for g in analysis.groups if g.candidate)
    n = export_group(analysis, calls, g.name, tmp_path / "ft.jsonl")
    rows = [json.loads(line) for line in (tmp_path / "ft.jsonl").read_text().splitlines()]
    assert n == len(rows) == g.count
    assert all([m["role"] for m in r["messages"]][-1] == "assistant" for r in rows)
    with pytest.raises(KeyError, match="no group 'nope'"):
        export_group(analysis, calls, "nope", tmp_path / "x.jsonl")


def test_store_usage_is_grouped_by_agent_and_task(tmp_path: Path) -> None:
    store = SQLiteStore(tmp_path / "runs.db")
    store.record_usage([
        UsageRecord(run_id="r1", step="classify", agent="minilm", task="classify", model="m", tokens_in=20,
                    compute_ms=5.0, cost_usd=1e-6),
        UsageRecord(run_id="r1", step="draft", agent="smollm2", task="chat", model="s", tokens_in=100, tokens_out=40,
                    compute_ms=900.0, cost_usd=2e-6),
        UsageRecord(run_id="r2", step="classify", agent="minilm", task="classify", model="m", tokens_in=30,
                    compute_ms=7.0, cost_usd=1e-6),
    ])
    calls = read_store(store)
    analysis = analyze(calls)
    names = {g.name: g for g in analysis.groups}
    assert set(names) == {"agent minilm:classify", "agent smollm2:chat"}
    assert names["agent minilm:classify"].count == 2
    assert names["agent minilm:classify"].p50_latency_ms == pytest.approx(6.0)
    with pytest.raises(ValueError, match="keeps no texts"):
        export_group(analysis, calls, names["agent smollm2:chat"].id, tmp_path / "x.jsonl")


@pytest.mark.slow  # embeds with the fleet's real MiniLM (in-process)
def test_cli_analyze_and_export(tmp_path: Path) -> None:
    from cluster.cli import main
    from orchestrator import default_store

    # Agent usage recorded by earlier runs sits in the run store ($SLMFLOW_HOME of the test session).
    default_store().record_usage([UsageRecord(run_id="cli-test", step="s", agent="clitest-agent", task="embed",
                                              model="m", tokens_in=5, compute_ms=2.0)])
    runner = CliRunner()
    res = runner.invoke(main, ["migrate", "analyze", "--log", str(SAMPLE_LOG), "--from-store", "--via", "local",
                               "--json"])
    assert res.exit_code == 0, res.output
    data = json.loads(res.stdout)
    log_groups = [g for g in data["groups"] if g["source"] == "log"]
    assert len(log_groups) == 5
    assert any(g["name"] == "agent clitest-agent:embed" for g in data["groups"])
    assert not any(v in res.output for v in PII)
    out = tmp_path / "g1.jsonl"
    res = runner.invoke(main, ["migrate", "export", "g1", "-o", str(out), "--via", "local"])
    assert res.exit_code == 0, res.output
    assert out.read_text().count("\n") == log_groups[0]["count"]
    res = runner.invoke(main, ["migrate", "analyze", "--log", str(tmp_path / "missing.jsonl")])
    assert res.exit_code != 0 and "no such log file" in res.output
