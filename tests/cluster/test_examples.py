"""The paper examples (KubeRay RayService, `ray up` YAML) validate against Ray's own schemas."""

from __future__ import annotations

import math
from pathlib import Path

import yaml

EXAMPLES = Path(__file__).resolve().parents[2] / "cluster" / "examples"


def _peak_gpus(fleet: dict) -> float:
    return sum(
        a["autoscaling"]["max_replicas"] * (a["resources"].get("num_gpus") or 0) for a in fleet["agents"]
    )


def test_rayservice_serve_config_is_valid_and_matches_the_fleet_file() -> None:
    from ray.serve.schema import ServeDeploySchema

    from agents.fleet import AppArgs
    from agents.spec import FleetSpec

    manifest = yaml.safe_load((EXAMPLES / "rayservice.yaml").read_text())
    assert manifest["kind"] == "RayService"
    serve_config = yaml.safe_load(manifest["spec"]["serveConfigV2"])
    schema = ServeDeploySchema.model_validate(serve_config)
    (app,) = schema.applications
    assert app.name == "slmflow" and app.import_path == "agents.fleet:app_from_config"
    args = AppArgs.model_validate(app.args)

    fleet_file = FleetSpec.model_validate(yaml.safe_load((EXAMPLES / "gpu-fleet.yaml").read_text()))
    assert args.fleet == fleet_file, "rayservice.yaml is stale: regenerate it from gpu-fleet.yaml"
    fractions = {a.name: a.resources.num_gpus for a in args.fleet.agents}
    assert all(isinstance(f, float) and 0 < f < 1 for f in fractions.values()), fractions

    # The worker group can hold the fleet at its peak.
    (group,) = manifest["spec"]["rayClusterConfig"]["workerGroupSpecs"]
    per_worker = int(group["rayStartParams"]["num-gpus"])
    peak = _peak_gpus(args.fleet.model_dump())
    assert group["maxReplicas"] * per_worker >= math.ceil(peak)
    gpus_limit = group["template"]["spec"]["containers"][0]["resources"]["limits"]["nvidia.com/gpu"]
    assert int(gpus_limit) == per_worker


def test_ray_up_yaml_passes_rays_autoscaler_schema() -> None:
    from ray.autoscaler._private.util import prepare_config, validate_config

    config = yaml.safe_load((EXAMPLES / "ray-cluster.yaml").read_text())
    # What `ray up` does before launching anything: merge the provider's defaults, then validate.
    validate_config(prepare_config(config))
    gpu = config["available_node_types"]["gpu_a10g"]
    fleet = yaml.safe_load((EXAMPLES / "gpu-fleet.yaml").read_text())
    assert gpu["max_workers"] * gpu["resources"]["GPU"] >= math.ceil(_peak_gpus(fleet))
