"""A tool_call LoRA with a tool router (a head over an encoder) trained beside it: the router
is written into the adapter's version, loaded with it, and decides the tool where it is sure."""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from agents.protocol import ToolCallRequest, ToolCallResponse
from agents.runtime import ModelRunner
from agents.spec import AgentSpec
from agents.specialists.head import Head
from agents.specialists.registry import Registry
from agents.specialists.router import (
    ROUTER_DIR,
    ROUTER_FILE,
    RouterConfig,
    ToolRouter,
    close_routers,
    load_routers,
)
from agents.specialists.train import TrainError

TOOLS = [
    {"name": "refund", "description": "Give a customer their money back for an order.",
     "parameters": {"type": "object", "properties": {"order": {"type": "string"}}, "required": ["order"]}},
    {"name": "track", "description": "Say where an order is and when it arrives.",
     "parameters": {"type": "object", "properties": {"order": {"type": "string"}}, "required": ["order"]}},
    {"name": "cancel", "description": "Stop an order before it ships.",
     "parameters": {"type": "object", "properties": {"order": {"type": "string"}}, "required": ["order"]}},
]
ROWS = [{"text": f"{verb} order {o}", "tools": TOOLS, "tool_call": {"name": tool, "arguments": {"order": o}}}
        for verb, tool in [("refund", "refund"), ("money back for", "refund"), ("where is", "track"),
                           ("track", "track"), ("cancel", "cancel"), ("stop", "cancel")]
        for o in ("A1", "B2")]


def _write(path: Path, rows: list[dict]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


@pytest.fixture(scope="module")
def routed(tiny_gguf: Path, tiny_bert_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[dict, Path]:
    """`slmflow train --task tool_call --router ...`: the report, and the version folder."""
    from agents.specialists.cli import train

    data = _write(tmp_path_factory.mktemp("router-data") / "calls.jsonl", ROWS)
    result = CliRunner().invoke(train, ["tinyrouted", "--task", "tool_call", "--base", str(tiny_gguf), "--data",
                                        str(data), "--eval", str(data), "--epochs", "1", "--router",
                                        str(tiny_bert_dir), "--router-theta", "0.5", "--json"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.output.strip().splitlines()[-1])
    return report, Registry().version_dir("tinyrouted", report["version"])


def _runner(tiny_gguf: Path, version: Path) -> ModelRunner:
    spec = AgentSpec(name="tinybase", model=str(tiny_gguf), tasks=["tool_call"],
                     adapters=[str(version / "adapter.gguf")], generation={"max_new_tokens": 64})
    return ModelRunner(spec).load()


def _tools(runner: ModelRunner, texts: list[str], tools: list[dict] = TOOLS) -> list[str | None]:
    out = runner.run_batch("tool_call", [{"text": t, "tools": tools, "adapter": "adapter"} for t in texts])
    return [o.name if isinstance(o, ToolCallResponse) else None for o in out]


def _constant_head(version: Path, favoured: str | None, theta: float) -> None:
    """Replace the router's head by one that gives every text the same scores: ``favoured``
    near 1, or all equal (None); and its theta."""
    folder = version / ROUTER_DIR
    config = RouterConfig.model_validate_json((folder / ROUTER_FILE).read_text())
    head = Head.load(folder)
    bias = np.array([12.0 if lab == favoured else 0.0 for lab in head.labels], dtype=np.float32)
    Head(head.labels, np.zeros_like(head.weight), bias).save(folder)
    (folder / ROUTER_FILE).write_text(config.model_copy(update={"theta": theta}).model_dump_json())


def test_the_router_is_trained_into_the_adapter_version(routed: tuple[dict, Path]) -> None:
    report, version = routed
    assert (version / "adapter.gguf").is_file() and (version / ROUTER_DIR / "head.safetensors").is_file()
    config = RouterConfig.model_validate_json((version / ROUTER_DIR / ROUTER_FILE).read_text())
    assert config.labels == ["cancel", "refund", "track"] and config.theta == 0.5
    meta = Registry().meta("tinyrouted")
    assert meta.hyperparameters["router"]["labels"] == config.labels
    # One description row per tool, as a classify specialist gets from --label-descriptions.
    assert meta.hyperparameters["router"]["description_rows"] == 3
    r = report["metrics"]["router"]
    assert r["theta"] == 0.5 and 0.0 <= r["decided"] <= 1.0
    assert set(r["adapter_alone"]) == {"tool_accuracy", "exact_match", "exact_fields", "schema_valid"}
    # `specialists show` tells what the router does.
    from agents.specialists.cli import specialists

    shown = CliRunner().invoke(specialists, ["show", "tinyrouted"])
    assert shown.exit_code == 0 and "router:  theta 0.5" in shown.output and "tool_accuracy" in shown.output


def test_a_sure_router_decides_the_tool_and_an_unsure_one_leaves_it_to_the_lora(
        routed: tuple[dict, Path], tiny_gguf: Path, tmp_path: Path) -> None:
    _, trained = routed
    version = tmp_path / "v"
    shutil.copytree(trained, version)
    texts = [r["text"] for r in ROWS[::2]]

    called = {}
    for favoured in ("refund", "cancel"):
        _constant_head(version, favoured, theta=0.9)
        runner = _runner(tiny_gguf, version)
        assert runner.info()["tool_routers"] == ["adapter"]
        called[favoured] = _tools(runner, texts)
        runner.engine.close()
    # Whatever the adapter would pick, the sure router's tool is the one called.
    assert called == {"refund": ["refund"] * len(texts), "cancel": ["cancel"] * len(texts)}

    # Scores of 1/3 each are under theta: the calls are the adapter's own.
    _constant_head(version, None, theta=0.9)
    runner = _runner(tiny_gguf, version)
    unsure = _tools(runner, texts)
    runner.engine.routers = {}
    alone = _tools(runner, texts)
    runner.engine.close()
    assert unsure == alone and all(alone)


def test_the_router_leaves_requests_with_a_tool_it_never_saw_to_the_lora(
        routed: tuple[dict, Path], tmp_path: Path) -> None:
    _, trained = routed
    version = tmp_path / "v"
    shutil.copytree(trained, version)
    _constant_head(version, "cancel", theta=0.9)
    router = ToolRouter.find(version)
    assert router is not None
    router.load()
    other = {"name": "weather", "description": "The weather.", "parameters": {"type": "object", "properties": {}}}
    refund, track, cancel = TOOLS
    asks = [ToolCallRequest(text="stop order A1", tools=TOOLS),
            ToolCallRequest(text="stop order A1", tools=[refund, other]),
            # A subset of its tools: the probabilities renormalised over those offered.
            ToolCallRequest(text="stop order A1", tools=[refund, cancel]),
            ToolCallRequest(text="stop order A1", tools=[refund, track]),
            ToolCallRequest(text="stop order A1", tools=[cancel])]
    assert router.choose(asks) == ["cancel", None, "cancel", None, None]
    close_routers({"v": router})
    assert ToolRouter.find(tmp_path) is None


def test_routers_over_one_encoder_share_it(routed: tuple[dict, Path], tmp_path: Path) -> None:
    """Ten routed adapters on a replica must not cost ten encoders: hard links of one base's
    files (as training writes them) load once; a copy loads apart."""
    _, trained = routed
    linked, copied = tmp_path / "linked", tmp_path / "copied"
    shutil.copytree(trained, linked, copy_function=os.link)
    shutil.copytree(trained, copied)
    routers = load_routers({"a": trained / "adapter.gguf", "b": linked / "adapter.gguf",
                            "c": copied / "adapter.gguf", "plain": tmp_path / "none" / "adapter.gguf"})
    assert sorted(routers) == ["a", "b", "c"]
    assert routers["a"].encoder is routers["b"].encoder and routers["a"].encoder is not routers["c"].encoder
    close_routers(routers)


def test_router_mistakes_are_refused_before_training(tiny_gguf: Path, tiny_bert_dir: Path, tmp_path: Path) -> None:
    from agents.specialists.adapters import train_adapter
    from agents.specialists.cli import train

    data = _write(tmp_path / "calls.jsonl", ROWS)
    registry = Registry(tmp_path / "reg")
    with pytest.raises(TrainError, match="goes with task tool_call"):
        train_adapter("x", task="extract", base=str(tiny_gguf), data=data, router=str(tiny_bert_dir),
                      registry=registry)
    # The fleet's causal agent, and a GGUF file.
    with pytest.raises(TrainError, match="--router 'smollm2' is a GGUF causal model"):
        train_adapter("x", task="tool_call", base=str(tiny_gguf), data=data, router="smollm2", registry=registry)
    with pytest.raises(TrainError, match=r"--router .* nor a local encoder folder"):
        train_adapter("x", task="tool_call", base=str(tiny_gguf), data=data, router=str(tiny_gguf),
                      registry=registry)
    with pytest.raises(TrainError, match="--router 'nosuch' is not an agent of the fleet"):
        train_adapter("x", task="tool_call", base=str(tiny_gguf), data=data, router="nosuch", registry=registry)
    with pytest.raises(TrainError, match=r"theta must be within \[0, 1\], got 1.5"):
        train_adapter("x", task="tool_call", base=str(tiny_gguf), data=data, router=str(tiny_bert_dir),
                      router_theta=1.5, registry=registry)
    one_tool = _write(tmp_path / "one.jsonl", [r for r in ROWS if r["tool_call"]["name"] == "refund"])
    with pytest.raises(TrainError, match=r"at least two tools; the data calls only \['refund'\]"):
        train_adapter("x", task="tool_call", base=str(tiny_gguf), data=one_tool, router=str(tiny_bert_dir),
                      registry=registry)
    assert registry.names() == []
    got = CliRunner().invoke(train, ["x", "--task", "classify", "--base", str(tiny_bert_dir), "--data", str(data),
                                     "--router", str(tiny_bert_dir)])
    assert got.exit_code != 0 and "--router and --router-theta go with --task tool_call" in got.output


@pytest.fixture
def routed_fleet(serve_fleet: object, routed: tuple[dict, Path], tiny_gguf: Path, tmp_path: Path) -> Iterator[None]:
    """The session fleet plus a tiny GGUF agent serving a copy of the routed adapter whose router
    is sure of `cancel` for every text."""
    from agents import FleetSpec
    from agents.fleet import deploy
    from tests.fixtures.ray_cluster import TEST_API_KEY

    version = tmp_path / "v"
    shutil.copytree(routed[1], version)
    _constant_head(version, "cancel", theta=0.9)
    agents = [a.model_dump(mode="json", exclude_unset=True) for a in serve_fleet.agents]  # type: ignore[attr-defined]
    agents.append({"name": "tinytools", "model": str(tiny_gguf), "tasks": ["tool_call"], "device": "cpu",
                   "generation": {"max_new_tokens": 64}, "adapters": [str(version / "adapter.gguf")]})
    deploy(FleetSpec(agents=agents), api_key=TEST_API_KEY, timeout_s=180)
    yield
    deploy(serve_fleet, api_key=TEST_API_KEY, timeout_s=180)


@pytest.mark.timeout(300)
async def test_a_serve_replica_loads_the_router_with_its_adapter(routed_fleet: None) -> None:
    from agents import agent

    calls = [await agent("tinytools").tool_call(r["text"], TOOLS, adapter="adapter") for r in ROWS[::4]]
    assert [c.name for c in calls] == ["cancel"] * len(calls)
    assert all(c.usage.replica_id for c in calls)
