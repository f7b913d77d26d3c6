"""The `slmflow` command: one root group; each package contributes its own commands.

Each package owns the commands for its domain (`orchestrator.cli`, `agents.cli`,
`cluster.commands`, `workflows.cli`, ...) and registers them in pyproject.toml under the
`slmflow.commands` entry-point group. This module only reads that group, so it imports no
package above `cluster` by name (the layering in the README's Layout), `slmflow --help`
stays fast, and a package's heavy imports (Ray, torch) happen inside the command that
needs them.
"""

from __future__ import annotations

from importlib.metadata import EntryPoint, entry_points

import click

from orchestrator.errors import StoreError
from orchestrator.logging import get_logger

GROUP = "slmflow.commands"

_log = get_logger(component="cluster.cli")


class _Root(click.Group):
    """Errors that are the user's to fix (an unusable run store file) end a command with their
    message, not a traceback."""

    def invoke(self, ctx: click.Context) -> object:
        try:
            return super().invoke(ctx)
        except StoreError as exc:
            raise click.ClickException(str(exc)) from exc


@click.group(cls=_Root, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="slmflow")
def main() -> None:
    """slmflow: workflows of small specialist language models on Ray."""


def _load(ep: EntryPoint) -> click.Command | None:
    try:
        command = ep.load()
    except Exception as exc:
        # One broken plugin must not take the whole CLI down: say which, and go on without it.
        _log.warning("cannot load a slmflow command; skipping it", entry_point=ep.name, target=ep.value,
                     error=f"{type(exc).__name__}: {exc}")
        return None
    if not isinstance(command, click.Command):
        _log.warning("slmflow command entry point is not a click command; skipping it", entry_point=ep.name,
                     target=ep.value, type=type(command).__name__)
        return None
    return command


def _register() -> None:
    seen: dict[str, str] = {}
    for ep in sorted(entry_points(group=GROUP), key=lambda e: e.name):
        command = _load(ep)
        if command is None:
            continue
        if command.name in seen:
            raise RuntimeError(f"two {GROUP} entry points define the command {command.name!r}: "
                               f"{seen[command.name]} and {ep.value}")
        seen[command.name] = ep.value
        main.add_command(command)


_register()
