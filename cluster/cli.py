"""The `slmflow` command: one root group; each package contributes its own commands.

Each package owns the commands for its domain (`orchestrator.cli`, `agents.cli`,
`cluster.commands`, `workflows.cli`); this module only assembles them, so that
`slmflow --help` stays fast and a package's heavy imports (Ray, torch) happen
inside the command that needs them.
"""

from __future__ import annotations

import importlib

import click

# (module, attribute) pairs; each attribute is a click command or group.
_COMMANDS: list[tuple[str, str]] = [
    ("orchestrator.cli", "run"),
    ("orchestrator.cli", "runs"),
    ("orchestrator.cli", "resume"),
    ("orchestrator.cli", "graph"),
    ("agents.cli", "agents"),
    ("cluster.commands", "submit"),
    ("cluster.commands", "jobs"),
    ("cluster.commands", "cluster"),
    ("workflows.cli", "demo"),
    ("workflows.cli", "migrate"),
    ("agents.specialists.cli", "train"),
    ("agents.specialists.cli", "specialists"),
    ("workflows.specialize", "specialize_demo"),
]


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="slmflow")
def main() -> None:
    """slmflow: workflows of small specialist language models on Ray."""


def _register() -> None:
    for module_name, attr in _COMMANDS:
        main.add_command(getattr(importlib.import_module(module_name), attr))


_register()
