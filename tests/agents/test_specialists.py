"""Specialists without Serve: training a head on the tiny BERT, the registry, data errors, the CLI, shadow reports."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from agents.errors import InvalidRequest
from agents.protocol import ClassifyRequest, EmbedRequest, TaskKind
from agents.runtime import ModelRunner
from agents.spec import AgentSpec
from agents.specialists import Registry, RegistryError, SpecialistMeta, train_classifier
from agents.specialists.data import DataError, load_examples, split
from agents.specialists.head import HEAD_FILE, Head
from agents.specialists.registry import DataInfo
from agents.specialists.shadow import ShadowRecord, ShadowStore
from agents.specialists.train import TrainError

# Words the tiny BERT's tokenizer knows (tests/fixtures/models.py CORPUS), so texts differ in tokens.
ROWS = [
    ("I love this product, it is great!", "positive"),
    ("great product, I love it", "positive"),
    ("it is great, love it", "positive"),
    ("I love it", "positive"),
    ("I hate it, it is terrible.", "negative"),
    ("terrible product, I hate it", "negative"),
    ("it is terrible, hate it", "negative"),
    ("I hate this", "negative"),
]


def _write(path: Path, rows: list[tuple[str, str]]) -> Path:
    path.write_text("".join(json.dumps({"text": t, "label": lab}) + "\n" for t, lab in rows))
    return path


@pytest.fixture()
def registry(tmp_path: Path) -> Registry:
    return Registry(tmp_path / "specialists")


@pytest.fixture()
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A private SLMFLOW_HOME: `specialist:` references resolve through the default registry."""
    monkeypatch.setenv("SLMFLOW_HOME", str(tmp_path / "home"))
    return tmp_path / "home"


def test_train_a_head_and_serve_it_through_the_runtime_without_labels(
    tiny_bert_dir: Path, home: Path, tmp_path: Path
) -> None:
    data = _write(tmp_path / "sentiment.jsonl", ROWS)
    progress: list[tuple[str, int, int]] = []
    result = train_classifier("sentiment", base=str(tiny_bert_dir), data=data, progress=lambda *a: progress.append(a))
    assert (result.name, result.version, result.labels) == ("sentiment", 1, ["negative", "positive"])
    folder = Path(result.path)
    assert folder == home / "specialists" / "sentiment" / "v1"
    # The artifact: head and record, plus the base's files so the folder loads as a model; no pickle anywhere.
    assert {HEAD_FILE, "specialist.json", "config.json"} <= {p.name for p in folder.iterdir()}
    assert not [p for p in folder.rglob("*") if p.suffix in (".bin", ".pkl", ".pt", ".pickle")]
    meta = Registry().meta("sentiment")
    assert meta.data.sha256 == hashlib.sha256(data.read_bytes()).hexdigest() and meta.data.rows == 8
    assert meta.base == str(tiny_bert_dir) and meta.labels == ["negative", "positive"]
    assert meta.hyperparameters["C"] in (0.3, 1.0, 3.0, 10.0, 30.0, 100.0)
    assert meta.metrics["eval_rows"] == 8 and "training data" in meta.metrics["eval_source"]
    assert meta.metrics["accuracy"] == 1.0, meta.metrics  # eight separable rows: the head fits them
    assert any(stage == "embedding training texts" and done == total for stage, done, total in progress)

    # Served from `specialist:sentiment` (newest version, none promoted), the agent needs no labels.
    spec = AgentSpec(name="sentiment", model="specialist:sentiment", tasks=["classify", "embed"], device="cpu")
    assert spec.model == str(folder)
    runner = ModelRunner(spec, threads=0).load()
    texts = [t for t, _ in ROWS]
    out = runner.run_batch(TaskKind.CLASSIFY, [ClassifyRequest(text=t) for t in texts])
    assert [r.label for r in out] == [lab for _, lab in ROWS]
    # Serving computes exactly what training evaluated: the head over the normalised embedding.
    [emb] = runner.run_batch(TaskKind.EMBED, [EmbedRequest(texts=texts)])
    expected = Head.load(folder).probabilities(np.asarray(emb.embeddings))
    got = np.array([[r.scores[lab] for lab in ("negative", "positive")] for r in out])
    np.testing.assert_allclose(got, expected, atol=1e-5)

    # A subset of the labels is fine (one label: probability 1); a label it does not know is a clear error.
    [one] = runner.run_batch(TaskKind.CLASSIFY, [{"text": texts[0], "labels": ["negative", "positive"]}])
    assert one.label == "positive"
    [bad] = runner.run_batch(TaskKind.CLASSIFY, [{"text": texts[0], "labels": ["positive", "spam"]}])
    assert isinstance(bad, InvalidRequest) and "'spam'" in str(bad) and "negative" in str(bad)


def test_label_descriptions_are_one_more_training_example_per_label(
    tiny_bert_dir: Path, registry: Registry, tmp_path: Path
) -> None:
    data = _write(tmp_path / "sentiment.jsonl", ROWS)
    descriptions = {"positive": "a glowing review of something wonderful", "negative": "a complaint about a flop"}
    plain = train_classifier("plain", base=str(tiny_bert_dir), data=data, registry=registry, zero_shot=False)
    described = train_classifier("described", base=str(tiny_bert_dir), data=data, registry=registry,
                                 label_descriptions=descriptions, zero_shot=False, C=plain.meta.hyperparameters["C"])
    assert plain.meta.hyperparameters["description_rows"] == 0
    assert described.meta.hyperparameters["description_rows"] == 2
    assert not np.allclose(Head.load(plain.path).weight, Head.load(described.path).weight)


def test_refit_saves_a_head_fitted_on_every_row_and_reports_the_held_out_one(
    tiny_bert_dir: Path, registry: Registry, tmp_path: Path
) -> None:
    rows = ROWS + [(f"{t} {w}", lab) for t, lab in ROWS for w in ("today", "again")]
    data = _write(tmp_path / "sentiment.jsonl", rows)
    held = train_classifier("held", base=str(tiny_bert_dir), data=data, registry=registry, zero_shot=False)
    refit = train_classifier("refit", base=str(tiny_bert_dir), data=data, registry=registry, zero_shot=False,
                             refit=True)
    assert "held-out split" in refit.metrics["eval_source"]
    # The report is the held-out head's, the saved head is fitted on all rows with the C chosen.
    assert {k: v for k, v in refit.metrics.items() if k != "train_s"} == \
        {k: v for k, v in held.metrics.items() if k != "train_s"}
    assert refit.meta.hyperparameters["refit_rows"] == len(rows) and "refit_rows" not in held.meta.hyperparameters
    c = refit.meta.hyperparameters["C"]
    again = train_classifier("all", base=str(tiny_bert_dir), data=data, eval_data=data, registry=registry,
                             zero_shot=False, C=c)
    np.testing.assert_allclose(Head.load(refit.path).weight, Head.load(again.path).weight, atol=1e-5)
    assert not np.allclose(Head.load(refit.path).weight, Head.load(held.path).weight)
    with pytest.raises(TrainError, match="refit goes with method 'head'"):
        train_classifier("x", base=str(tiny_bert_dir), data=data, registry=registry, method="finetune", refit=True)


def test_a_finetuned_encoder_is_its_own_weights_file_and_serves_as_evaluated(
    tiny_bert_dir: Path, home: Path, tmp_path: Path
) -> None:
    from safetensors import safe_open

    base_weights = tiny_bert_dir / "model.safetensors"
    before = hashlib.sha256(base_weights.read_bytes()).hexdigest()
    data = _write(tmp_path / "sentiment.jsonl", ROWS)
    result = train_classifier("tuned", base=str(tiny_bert_dir), data=data, method="finetune", finetune_epochs=3,
                              finetune_lr=1e-3, finetune_layers=1)
    folder = Path(result.path)
    meta = Registry().meta("tuned")
    assert meta.method == "finetune" and meta.hyperparameters["finetune_steps"] == 3
    assert meta.hyperparameters["finetuned_layers"] == 1
    # The base's weights are untouched (never written through the version's hard links) ...
    assert hashlib.sha256(base_weights.read_bytes()).hexdigest() == before
    tuned = folder / "model.safetensors"
    assert tuned.stat().st_ino != base_weights.stat().st_ino
    with safe_open(str(tuned), framework="numpy") as new, safe_open(str(base_weights), framework="numpy") as old:
        assert set(new.keys()) == set(old.keys())
        top = [k for k in old.keys() if k.startswith("encoder.layer.1.") and k.endswith("weight")]  # noqa: SIM118
        # ... the top block changed, the embeddings did not.
        assert any(not np.array_equal(new.get_tensor(k), old.get_tensor(k)) for k in top)
        emb = "embeddings.word_embeddings.weight"
        np.testing.assert_array_equal(new.get_tensor(emb), old.get_tensor(emb))
    # Served from the version folder, the model gives the confidences the evaluation measured in training.
    spec = AgentSpec(name="tuned", model="specialist:tuned", tasks=["classify", "embed"], device="cpu")
    runner = ModelRunner(spec, threads=0).load()
    out = runner.run_batch(TaskKind.CLASSIFY, [ClassifyRequest(text=t) for t, _ in ROWS])
    served_conf = float(np.mean([max(r.scores.values()) for r in out]))
    assert served_conf == pytest.approx(meta.metrics["mean_confidence"], abs=1e-3)
    assert np.mean([r.label == lab for r, (_, lab) in zip(out, ROWS, strict=True)]) == meta.metrics["accuracy"]


def test_an_agent_without_a_head_still_needs_labels(tiny_bert_runner: ModelRunner) -> None:
    [err] = tiny_bert_runner.run_batch(TaskKind.CLASSIFY, [{"text": "hello"}])
    assert isinstance(err, InvalidRequest) and "labels are required" in str(err)
    with pytest.raises(ValueError, match="need labels"):
        ClassifyRequest(text="x", label_descriptions={"a": "b"})


def _stage(registry: Registry, name: str, labels: list[str], model: bool = True) -> SpecialistMeta:
    """A version folder without training (registry behaviour does not depend on the weights)."""
    staging = registry.staging_dir(name)
    if model:
        (staging / "config.json").write_text("{}")  # what makes it a model folder for `model: specialist:`
    meta = SpecialistMeta(name=name, version=1, task="classify", method="head", base="b", base_model="b",
                          max_input_tokens=8, labels=labels, data=DataInfo(path="d", sha256="0", rows=1, format="jsonl"))
    return registry.commit(name, staging, meta)


def test_versions_promote_and_rollback(registry: Registry) -> None:
    assert [_stage(registry, "intent", ["a", "b"]).version for _ in range(3)] == [1, 2, 3]
    assert registry.versions("intent") == [1, 2, 3] and registry.promoted("intent") is None
    assert registry.resolve("specialist:intent") == registry.version_dir("intent", 3)  # newest before promotion
    with pytest.raises(RegistryError, match="no promoted version"):
        registry.resolve("specialist:intent@promoted")
    with pytest.raises(RegistryError, match=r"nothing to roll back|no promoted"):
        registry.rollback("intent")
    assert registry.promote("intent", 1).version == 1
    assert registry.resolve("specialist:intent") == registry.version_dir("intent", 1)
    assert registry.promote("intent", 3).version == 3
    assert registry.promote("intent", 2).version == 2
    assert registry.resolve("specialist:intent@v1") == registry.version_dir("intent", 1)
    assert registry.resolve("specialist:intent@latest") == registry.version_dir("intent", 3)
    # Rollback walks the promotion history back: 2 -> 3 -> 1, then there is nothing left.
    assert registry.rollback("intent").version == 3
    assert registry.rollback("intent").version == 1
    assert registry.resolve("specialist:intent") == registry.version_dir("intent", 1)
    with pytest.raises(RegistryError, match="nothing to roll back to"):
        registry.rollback("intent")
    with pytest.raises(RegistryError, match="no version v9"):
        registry.promote("intent", 9)
    with pytest.raises(RegistryError, match=r"no specialist 'nope'.*specialists: intent"):
        registry.resolve("specialist:nope")
    with pytest.raises(RegistryError, match="not a slug"):
        registry.promote("Bad Name")
    assert registry.version_of(registry.version_dir("intent", 2)) == ("intent", 2)
    assert registry.version_of(registry.root) is None
    assert not list(registry.folder("intent").glob(".staging-*"))


def test_a_fleet_spec_pins_the_promoted_version_so_a_promote_changes_only_that_agent(home: Path) -> None:
    registry = Registry()
    for _ in range(2):
        _stage(registry, "router", ["x", "y"])
    registry.promote("router", 1)

    def spec() -> AgentSpec:
        return AgentSpec(name="router", model="specialist:router", tasks=["classify"])

    first = spec().model
    assert first == str(registry.version_dir("router", 1))
    registry.promote("router", 2)
    assert spec().model == str(registry.version_dir("router", 2)) != first
    from agents.errors import SpecError
    from agents.spec import FleetSpec

    with pytest.raises(SpecError, match=r"agents\[other\]\.model: .*no specialist 'missing'"):
        FleetSpec.from_yaml("agents:\n  - {name: other, model: 'specialist:missing', tasks: [classify]}\n")


def test_bad_data_is_named_by_file_and_line(tmp_path: Path) -> None:
    cases = {
        "notjson.jsonl": ('{"text": "a", "label": "x"}\n{oops\n', r"notjson.jsonl:2: not valid JSON"),
        "nolabel.jsonl": ('{"text": "a"}\n', r"nolabel.jsonl:1: the label must be a non-empty string"),
        "listlabel.jsonl": ('{"text": "a", "label": 1}\n{"text": "b", "label": ["x"]}\n',
                            r"listlabel.jsonl:2: the label must be a non-empty string"),
        "keys.jsonl": ('{"prompt": "a"}\n', r"keys.jsonl:1: expected .*text.*label.*messages"),
        "long.jsonl": (json.dumps({"messages": [{"role": "user", "content": "summarise"},
                                                {"role": "assistant", "content": "x" * 200}]}) + "\n",
                       r"long.jsonl:1: the label .* 200 characters long"),
        "mixed.jsonl": ('{"text": "a", "label": "x"}\n' + json.dumps({"messages": [
            {"role": "user", "content": "b"}, {"role": "assistant", "content": "y"}]}) + "\n", r"mixes"),
        "empty.jsonl": ("\n", r"has no examples"),
    }
    for name, (content, pattern) in cases.items():
        (tmp_path / name).write_text(content)
        with pytest.raises(DataError, match=pattern):
            load_examples(tmp_path / name)
    with pytest.raises(DataError, match="does not exist"):
        load_examples(tmp_path / "missing.jsonl")
    (tmp_path / "ids.jsonl").write_text('{"text": "a", "label": 0}\n{"text": "b", "label": 1}\n')
    assert load_examples(tmp_path / "ids.jsonl").labels == ["0", "1"]


def test_migrate_exports_are_distillation_data_and_splits_keep_texts_apart(tmp_path: Path) -> None:
    rows = []
    for i in range(30):
        label = ("billing", "technical", "shipping")[i % 3]
        text = f"ticket {i % 15}"  # every text twice: a split must not put a copy on both sides
        rows.append({"messages": [{"role": "system", "content": "Route the ticket."},
                                  {"role": "user", "content": text}, {"role": "assistant", "content": f" {label}.\n"}]})
    path = tmp_path / "export.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    ds = load_examples(path)
    assert ds.format == "migrate_export" and ds.labels == ["billing", "shipping", "technical"]
    train, test = split(ds.examples, test_fraction=0.3, seed=1)
    assert {e.text for e in train}.isdisjoint({e.text for e in test}) and len(train) + len(test) == 30
    assert split(ds.examples, test_fraction=0.3, seed=1) == (train, test)  # fixed by the seed


def test_cli_train_prints_one_json_object_last_and_manages_versions(tiny_bert_dir: Path, home: Path,
                                                                    tmp_path: Path) -> None:
    from agents.specialists.cli import specialists, train

    data = _write(tmp_path / "d.jsonl", ROWS)
    runner = CliRunner()
    res = runner.invoke(train, ["mood", "--base", str(tiny_bert_dir), "--data", str(data), "--eval", str(data), "--json"])
    assert res.exit_code == 0, res.output
    last = json.loads(res.output.strip().splitlines()[-1])
    assert last["name"] == "mood" and last["version"] == 1 and last["metrics"]["accuracy"] == 1.0
    assert last["metrics"]["eval_source"] == "file"
    res = runner.invoke(train, ["mood", "--base", str(tiny_bert_dir), "--data", str(data)])
    assert res.exit_code == 0 and "trained mood v2" in res.output, res.output
    assert json.loads(res.output.strip().splitlines()[-1])["version"] == 2

    listed = json.loads(runner.invoke(specialists, ["list", "--json"]).output)
    assert listed == [{"name": "mood", "versions": [1, 2], "promoted": None, "task": "classify", "labels": 2,
                       "base": str(tiny_bert_dir), "accuracy": 1.0}]
    res = runner.invoke(specialists, ["promote", "mood", "--version", "1", "--no-redeploy"])
    assert res.exit_code == 0 and "serving v1" in res.output, res.output
    shown = json.loads(runner.invoke(specialists, ["show", "mood", "--json"]).output)
    assert shown["version"] == 1 and shown["data"]["sha256"] == hashlib.sha256(data.read_bytes()).hexdigest()
    assert runner.invoke(specialists, ["promote", "mood", "--no-redeploy"]).exit_code == 0
    res = runner.invoke(specialists, ["rollback", "mood", "--no-redeploy"])
    assert res.exit_code == 0 and "serving v1" in res.output, res.output

    res = runner.invoke(train, ["mood", "--base", "no-such-agent", "--data", str(data)])
    assert res.exit_code == 1 and "no-such-agent" in res.output and "minilm" in res.output
    res = runner.invoke(train, ["mood", "--task", "summarize", "--base", "minilm", "--data", str(data)])
    assert res.exit_code == 2 and "summarize" in res.output
    res = runner.invoke(specialists, ["show", "ghost"])
    assert res.exit_code == 1 and "no specialist 'ghost'" in res.output


def test_shadow_report_needs_enough_agreeing_calls(tmp_path: Path) -> None:
    store = ShadowStore(tmp_path / "runs.db")

    def rec(agree: bool | None, mode: str = "shadow", version: int = 1, escalated: bool = False) -> None:
        store.record(ShadowRecord(specialist="tickets", version=version, agent="tickets", target="gpt", mode=mode,
                                  input_sha256="h", specialist_label="a", specialist_confidence=0.9,
                                  target_label=None if agree is None else ("a" if agree else "b"), agree=agree,
                                  served_by="gpt" if mode == "shadow" else "tickets", escalated=escalated))

    assert not store.report("tickets").ready
    for i in range(9):
        rec(agree=i != 0)
    rep = store.report("tickets", threshold=0.85, min_calls=10)
    assert (rep.compared, rep.agreed, rep.ready) == (9, 8, False) and "9 of the 10" in rep.verdict
    rec(agree=True)
    rep = store.report("tickets", threshold=0.85, min_calls=10)
    assert rep.ready and rep.agreement == 0.9 and rep.disagreements == {"a -> b": 1}
    assert not store.report("tickets", threshold=0.95, min_calls=10).ready
    # Live calls (after promotion) do not count toward readiness; escalations are counted apart.
    rec(agree=False, mode="live", escalated=True)
    rec(agree=None, mode="live")
    rep = store.report("tickets", threshold=0.85, min_calls=10)
    assert (rep.compared, rep.live_calls, rep.escalated, rep.ready) == (10, 2, 1, True)
    # A newer version starts from nothing.
    rec(agree=True, version=2)
    assert store.report("tickets").version == 2 and store.report("tickets", min_calls=1).compared == 1
    assert store.report("tickets", version=1, threshold=0.85, min_calls=10).ready


@pytest.mark.parametrize("n_labels", [2, 3])
def test_the_stored_head_gives_scikit_learns_probabilities(tmp_path: Path, n_labels: int) -> None:
    from sklearn.linear_model import LogisticRegression

    rng = np.random.default_rng(0)
    x = rng.normal(size=(60, 16)).astype(np.float32)
    y = [f"l{i % n_labels}" for i in range(60)]
    x[np.arange(60), np.arange(60) % n_labels] += 2.0  # some signal per label
    clf = LogisticRegression(C=3.0, max_iter=1000).fit(x, y)
    Head.from_linear([str(c) for c in clf.classes_], clf.coef_, clf.intercept_).save(tmp_path)
    head = Head.load(tmp_path)
    assert head.labels == [f"l{i}" for i in range(n_labels)] and head.weight.shape == (n_labels, 16)
    np.testing.assert_allclose(head.probabilities(x), clf.predict_proba(x), atol=1e-5)
    with pytest.raises(ValueError, match="do not fit"):
        head.probabilities(x[:, :8])
    (tmp_path / HEAD_FILE).write_bytes(b"not a safetensors file")
    with pytest.raises(ValueError, match="not a head file"):
        Head.load(tmp_path)


def test_model_specialist_refuses_a_version_without_a_model(home: Path) -> None:
    from agents.errors import SpecError
    from agents.spec import FleetSpec

    _stage(Registry(), "adapterish", ["a", "b"], model=False)  # no model files, as an adapter's version
    with pytest.raises(SpecError, match=r"agents\[x\]\.model: .*holds no model to serve"):
        FleetSpec.from_yaml("agents:\n  - {name: x, model: 'specialist:adapterish', tasks: [classify]}\n")


def test_a_damaged_head_fails_fleet_validation(home: Path) -> None:
    from agents.errors import SpecError
    from agents.spec import FleetSpec

    meta = _stage(Registry(), "broken", ["a", "b"])
    (Registry().version_dir("broken", meta.version) / HEAD_FILE).write_bytes(b"garbage")
    with pytest.raises(SpecError, match=r"agents\[x\]\.model: .*head.safetensors: not a head file"):
        FleetSpec.from_yaml("agents:\n  - {name: x, model: 'specialist:broken', tasks: [classify]}\n")
