"""Property-based fuzzing of workflow inputs: any mapping of any JSON-like values either runs
(with a record of every step) or is refused before anything runs, naming the input."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import BaseModel, Field

from orchestrator import InputValidationError, RunFailed, step, workflow


class Order(BaseModel):
    order_id: str = Field(pattern=r"^A\d{5}$")
    quantity: int = Field(ge=1, le=99)


@step
def total(order: Order, price: float) -> float:
    return round(order.quantity * price, 2)


@step
def label(order: Order, note: str = "") -> str:
    return f"{order.order_id} {note}".strip()


@workflow
def priced(order: Order, price: float, note: str = ""):
    return {"total": total(order, price), "label": label(order, note)}


JSON = st.recursive(st.one_of(st.none(), st.booleans(), st.integers(), st.floats(), st.text(max_size=12)),
                    lambda inner: st.one_of(st.lists(inner, max_size=3),
                                            st.dictionaries(st.text(max_size=10), inner, max_size=3)),
                    max_leaves=8)
ORDERS = st.one_of(JSON, st.fixed_dictionaries({"order_id": st.one_of(st.just("A12345"), JSON),
                                                "quantity": st.one_of(st.integers(-5, 120), JSON)}))
INPUTS = st.dictionaries(st.sampled_from(["order", "price", "note", "extra"]),
                         st.one_of(ORDERS, JSON), max_size=4)


@settings(max_examples=150, deadline=None)
@given(INPUTS)
def test_inputs_run_or_are_refused_before_anything_runs(inputs: dict) -> None:
    try:
        out = priced.run(**inputs)
    except InputValidationError as exc:
        assert str(exc).strip()
        return
    except RunFailed as exc:
        # Valid inputs whose steps fail (a float overflow, say) end the run with every step recorded.
        assert exc.record.steps
        return
    assert set(out) == {"total", "label"}
