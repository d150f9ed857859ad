"""The capability filter: requests that need tools, vision or thinking reach only hosts whose copy
of the model has it; when none has, the answer is Ollama's own 400 wording."""

from types import MappingProxyType

import pytest

from sollol.router import (
    FleetSnapshot,
    HostState,
    MissingCapability,
    Router,
    analyse_request,
    capable_hosts,
    required_capabilities,
)

M = "qwen3:latest"


def host(name: str, caps: tuple[str, ...] | None, model: str = M) -> HostState:
    return HostState(
        name=name,
        installed=MappingProxyType({model: 2000.0}),
        capabilities=MappingProxyType({} if caps is None else {model: frozenset(caps)}),
    )


@pytest.mark.parametrize(
    ("endpoint", "body", "needs"),
    [
        ("chat", {"messages": [], "tools": [{"type": "function"}]}, {"tools"}),
        ("chat", {"messages": [], "tools": []}, set()),  # ollama-python always sends tools: []
        ("chat", {"think": True}, {"thinking"}),
        ("chat", {"think": "low"}, {"thinking"}),  # a level means thinking on
        ("chat", {"think": False}, set()),  # any model accepts think: false
        ("chat", {"messages": [{"role": "user", "content": "x", "images": ["QUJD"]}]}, {"vision"}),
        ("generate", {"prompt": "x", "images": ["QUJD"]}, {"vision"}),
        ("generate", {"prompt": "x", "tools": [{"type": "function"}]}, set()),  # generate has none
    ],
)
def test_required_capabilities(endpoint, body, needs):
    assert required_capabilities(endpoint, body) == frozenset(needs)


def test_profile_carries_the_needs_to_the_router():
    profile = analyse_request("chat", {"model": "qwen3", "think": "high", "messages": []})
    assert profile.needs == frozenset({"thinking"})


def test_only_hosts_with_the_capability_survive():
    hosts = [host("plain", ("completion",)), host("tooled", ("completion", "tools"))]
    assert [h.name for h in capable_hosts(hosts, M, frozenset({"tools"}))] == ["tooled"]


def test_a_model_that_reports_no_capabilities_is_not_filtered():
    # an Ollama older than 0.30 lists no capabilities: it is not known to lack any
    hosts = [host("old", None)]
    assert capable_hosts(hosts, M, frozenset({"tools"})) == hosts


def test_hosts_without_the_model_are_left_to_the_model_filter():
    other = host("other", ("completion",), model="llama3.2:latest")
    assert capable_hosts([other], M, frozenset({"tools"})) == [other]


@pytest.mark.parametrize(
    ("needs", "message"),
    [
        ({"tools"}, "registry.ollama.ai/library/qwen3:latest does not support tools"),
        ({"vision"}, "registry.ollama.ai/library/qwen3:latest does not support vision"),
        ({"thinking"}, '"qwen3:latest" does not support thinking'),
        ({"thinking", "tools"}, "does not support tools"),  # Ollama checks tools first
    ],
)
def test_no_capable_copy_is_ollamas_400_message(needs, message):
    with pytest.raises(MissingCapability, match=message):
        capable_hosts([host("plain", ("completion",))], M, frozenset(needs))


def test_router_sends_a_tool_call_to_the_tools_host_even_when_it_is_busier():
    busy_tools = HostState(
        name="busy-tools",
        installed=MappingProxyType({M: 2000.0}),
        capabilities=MappingProxyType({M: frozenset({"completion", "tools"})}),
        running=3,
        queued=(0, 0, 0, 0, 5, 0, 0, 0, 0, 0),
    )
    idle_plain = host("idle-plain", ("completion",))
    snapshot = FleetSnapshot(hosts=(idle_plain, busy_tools))
    profile = analyse_request("chat", {"model": "qwen3", "tools": [{"type": "function"}]})
    for strategy in ("performance", "round_robin", "least_connections"):
        assert Router(strategy).route(profile, snapshot).host == "busy-tools"
