"""Reading Serve's controller state (what `serve status` shows, with replica details)."""

from __future__ import annotations

from typing import Any


def app_details(app_name: str) -> Any:
    """`ApplicationDetails` of `app_name`, or None when Serve or the application is absent."""
    from ray.serve.context import _get_global_client
    from ray.serve.schema import ServeInstanceDetails

    client = _get_global_client(raise_if_no_controller_running=False)
    if client is None:
        return None
    details = ServeInstanceDetails(**client.get_serve_details())
    return details.applications.get(app_name)
