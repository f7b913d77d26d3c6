"""The one importer behind resume, process steps, stored pydantic values and Ray jobs."""

from __future__ import annotations

from pathlib import Path

import pytest

from orchestrator.imports import BadReference, import_ref, load_module, split_ref
from orchestrator.retry import RetryPolicy


def test_module_reference_and_nested_qualname() -> None:
    assert import_ref("orchestrator.retry:RetryPolicy") is RetryPolicy
    assert import_ref("orchestrator.retry:RetryPolicy.backoff") is RetryPolicy.backoff


def test_file_reference_loads_once_under_a_private_name(tmp_path: Path) -> None:
    script = tmp_path / "json.py"  # a name that clashes with the standard library
    script.write_text("VALUE = 41\nclass Box:\n    inner = 'x'\n")
    assert import_ref(f"{script}:VALUE") == 41
    assert import_ref(f"{script}:Box.inner") == "x"
    assert load_module(str(script)) is load_module(str(script))
    assert load_module(str(script)).__name__.startswith("_slmflow_script_")


def test_path_is_the_fallback_for_a_module_not_importable_by_name(tmp_path: Path) -> None:
    script = tmp_path / "elsewhere_mod.py"
    script.write_text("def f():\n    return 'here'\n")
    with pytest.raises(ModuleNotFoundError):
        import_ref("slmflow_test_elsewhere_mod:f")
    assert import_ref("slmflow_test_elsewhere_mod:f", path=str(script))() == "here"


@pytest.mark.parametrize("ref", ["no_colon", ":name", "module:"])
def test_malformed_references_say_what_is_expected(ref: str) -> None:
    with pytest.raises(BadReference, match="expected 'module:name'"):
        split_ref(ref)


def test_a_missing_attribute_names_module_and_attribute() -> None:
    with pytest.raises(BadReference, match=r"'orchestrator.retry' has no attribute 'Nope.x'"):
        import_ref("orchestrator.retry:Nope.x")


def test_a_file_that_fails_to_execute_is_not_left_half_loaded(tmp_path: Path) -> None:
    script = tmp_path / "broken.py"
    script.write_text("raise RuntimeError('boom')\n")
    for _ in range(2):  # the second attempt runs the file again instead of finding a half module
        with pytest.raises(RuntimeError, match="boom"):
            load_module(str(script))
