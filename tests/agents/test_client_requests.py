"""The client validates a request once, before any call: bad fields are an InvalidRequest naming the agent."""

from __future__ import annotations

import asyncio

import pytest

from agents import InvalidRequest, agent


def test_a_bad_field_is_an_invalid_request_naming_the_agent_sync_and_async() -> None:
    client = agent("nowhere")  # never deployed: the request fails before any handle is looked up
    with pytest.raises(InvalidRequest, match="bogus") as info:
        client.generate_sync("hi", bogus=1)
    assert info.value.agent == "nowhere"
    with pytest.raises(InvalidRequest, match="generate request"):
        asyncio.run(client.generate("hi", max_new_tokens="many"))
    with pytest.raises(InvalidRequest, match="chat request"):
        asyncio.run(client.chat([{"role": "user"}]))  # no content
    with pytest.raises(InvalidRequest, match="stream takes exactly one"):
        asyncio.run(anext(client.stream()))
    with pytest.raises(InvalidRequest, match="generate request"):
        asyncio.run(anext(client.stream("hi", bogus=1)))
