"""The real default fleet (SmolLM2 + MiniLM) on the session's Ray cluster, deployed once for these tests."""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Any

import pytest


@pytest.fixture(scope="session")
def default_fleet_deployed(ray_cluster: None, serve_fleet: Any) -> Iterator[str]:
    """The default fleet beside the session's tiny fleet, in the one `slmflow` app; yields the ingress URL.

    Deployed next to (not instead of) the agents tests' tiny fleet, so tests of either
    package can run in any order in one session. The ingress keeps the session's API key.
    """
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    from ray.serve.context import _get_global_client

    from agents.fleet import deploy
    from agents.spec import FleetSpec, load_fleet
    from tests.fixtures.ray_cluster import TEST_API_KEY

    default = load_fleet(None)
    deploy(FleetSpec(agents=[*serve_fleet.agents, *default.agents]), api_key=TEST_API_KEY, timeout_s=600)
    http = _get_global_client().http_config
    host = "127.0.0.1" if http.host in ("0.0.0.0", "") else http.host
    yield f"http://{host}:{http.port}/v1"
