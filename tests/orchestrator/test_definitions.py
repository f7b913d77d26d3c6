"""Bad definitions fail before anything runs, naming the step and the argument."""

from __future__ import annotations

import pytest
from pydantic import BaseModel

from orchestrator import (
    DefinitionError,
    InputValidationError,
    RetryPolicy,
    UnstorableValueError,
    step,
    workflow,
)

ran: list[str] = []


class Order(BaseModel):
    id: str
    amount: float


@step
def add(a: int, b: int) -> int:
    ran.append("add")
    return a + b


@step
def total(order: Order) -> float:
    ran.append("total")
    return order.amount


def test_missing_step_argument_names_step_and_argument() -> None:
    with pytest.raises(DefinitionError, match=r"step 'add'.*missing a required argument: 'b'"):

        @workflow
        def wf(x: int):
            return add(x)


def test_extra_step_argument() -> None:
    with pytest.raises(DefinitionError, match=r"step 'add'.*unexpected keyword argument 'c'"):

        @workflow
        def wf(x: int):
            return add(x, 1, c=2)


def test_constant_argument_validated_against_annotation() -> None:
    with pytest.raises(InputValidationError, match=r"step 'add', argument 'b'.*integer"):

        @workflow
        def wf(x: int):
            return add(x, "not a number")


def test_unstorable_constant_is_refused() -> None:
    with pytest.raises(UnstorableValueError, match=r"step 'echo', argument 'v'.*object"):

        @step
        def echo(v):
            return v

        @workflow
        def wf():
            return echo(object())


def test_step_called_outside_workflow() -> None:
    with pytest.raises(DefinitionError, match=r"step 'add' was called outside a @workflow.*add.fn"):
        add(1, 2)
    assert add.fn(1, 2) == 3


def test_map_outside_workflow() -> None:
    with pytest.raises(DefinitionError, match=r"add.map\(\) was called outside"):
        add.map([1, 2], b=1)


def test_node_used_in_python_control_flow() -> None:
    with pytest.raises(DefinitionError, match=r"output of step 'add'.*when="):

        @workflow
        def wf(x: int):
            y = add(x, 1)
            if y:
                return y
            return None


def test_node_iterated_or_attribute_read() -> None:
    with pytest.raises(DefinitionError, match=r"cannot be iterated.*map"):

        @workflow
        def wf1(x: int):
            a, _b = add(x, 1)
            return a

    with pytest.raises(DefinitionError, match=r"`.amount` cannot be read"):

        @workflow
        def wf2(o: Order):
            return add(o.amount, 1)


def test_node_from_another_workflow() -> None:
    captured = {}

    @workflow
    def first(x: int):
        captured["node"] = add(x, 1)
        return captured["node"]

    with pytest.raises(DefinitionError, match=r"belongs to workflow 'first'"):

        @workflow
        def second(y: int):
            return add(captured["node"], y)


def test_async_workflow_function_refused() -> None:
    with pytest.raises(DefinitionError, match="plain `def`"):

        @workflow
        async def wf(x: int):
            return add(x, 1)


def test_workflow_error_while_building_is_explained() -> None:
    with pytest.raises(DefinitionError, match=r"raised ZeroDivisionError while its graph was built"):

        @workflow
        def wf(x: int):
            return add(x, 1 / 0)


def test_bad_step_options() -> None:
    with pytest.raises(DefinitionError, match="retry= must be a RetryPolicy"):
        step(retry=3)(lambda: 1)
    with pytest.raises(DefinitionError, match="timeout= must be a positive"):
        step(timeout=0)(lambda: 1)
    with pytest.raises(DefinitionError, match="unknown option"):
        step(retries=3)
    with pytest.raises(ValueError, match=r"(?s)retry_on.*subclass of BaseException"):
        RetryPolicy(retry_on=("ValueError",))


def test_workflow_called_directly() -> None:
    @workflow
    def wf(x: int):
        return add(x, 1)

    with pytest.raises(DefinitionError, match=r"wf.run\(\.\.\.\)"):
        wf(1)


@workflow(store=None)
def priced(order: Order, n: int):
    return add(total(order), n)


def test_missing_extra_and_invalid_inputs_fail_before_anything_runs() -> None:
    ran.clear()
    with pytest.raises(InputValidationError, match=r"missing required input 'n'"):
        priced.run(order={"id": "a", "amount": 1})
    with pytest.raises(InputValidationError, match=r"unexpected input\(s\) \['m'\]"):
        priced.run(order={"id": "a", "amount": 1}, n=1, m=2)
    with pytest.raises(InputValidationError, match=r"input 'order'.*amount"):
        priced.run(order={"id": "a", "amount": "lots"}, n=1)
    with pytest.raises(InputValidationError, match=r"input 'n'"):
        priced.run(order={"id": "a", "amount": 1}, n="three")
    assert ran == []
    # Coercion the annotations allow is applied: a dict becomes the model, "2" becomes 2.
    assert priced.run(order={"id": "a", "amount": 1.0}, n="2") == 3


def test_unannotated_workflow_input_checked_against_step_annotation() -> None:
    @workflow(store=None)
    def wf(a, b):
        return add(a, b)

    with pytest.raises(InputValidationError, match=r"step 'add', argument 'b' \(from input 'b'\)"):
        wf.run(a=1, b=[1])


def test_unstorable_input_refused_when_stored(store) -> None:
    @step
    def echo(v):
        return 1

    @workflow
    def wf(v):
        return echo(v)

    with pytest.raises(InputValidationError, match=r"input 'v'.*cannot be stored as JSON.*allow_pickle"):
        wf.with_options(store=store).run(v=object())
    assert wf.with_options(store=None).run(v=object()) == 1


def test_map_argument_must_be_a_list() -> None:
    with pytest.raises(DefinitionError, match=r"add.map\(\): positional argument #0 must be a list"):

        @workflow
        def wf(x: int):
            return add.map(5, b=x)
