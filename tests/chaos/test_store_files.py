"""An unusable run store file (corrupted, or where a folder cannot be made) is a clear error
naming the file, from the API and the CLI, and the file is left as it was."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from click.testing import CliRunner

from orchestrator import SQLiteStore, StoreError


def test_a_corrupted_store_is_named_and_left_untouched(tmp_path: Path) -> None:
    path = tmp_path / "runs.db"
    garbage = os.urandom(8192)
    path.write_bytes(garbage)
    with pytest.raises(StoreError, match=rf"run store {path} is not a usable SQLite database.*Move it aside"):
        SQLiteStore(path)
    assert path.read_bytes() == garbage


def test_the_cli_says_which_store_file_is_broken(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from cluster.cli import main

    (tmp_path / "runs.db").write_bytes(b"this is not sqlite" * 100)
    monkeypatch.setenv("SLMFLOW_HOME", str(tmp_path))
    result = CliRunner().invoke(main, ["runs", "list"])
    assert result.exit_code == 1
    assert f"run store {tmp_path / 'runs.db'}" in result.output and "Traceback" not in result.output


def test_a_home_that_is_not_a_folder_is_named(tmp_path: Path) -> None:
    home = tmp_path / "home"
    home.write_text("a file where the folder should be")
    with pytest.raises(StoreError, match=rf"run store {home / 'runs.db'} cannot be used"):
        SQLiteStore(home / "runs.db")
