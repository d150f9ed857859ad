"""Injected failures, driven from another "process" through the control server's HTTP API."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import ollama
import pytest

from sollol.sim import REQUEST_ID_HEADER, SimFleet
from tests.sim.conftest import get_json, make_profile, node, wait_for

CHAT = {
    "model": "llama3.2",
    "messages": [{"role": "user", "content": "hi"}],
    "options": {"num_predict": 40},
}


@pytest.fixture
def sim() -> Iterator[SimFleet]:
    with SimFleet(make_profile([node("ok"), node("bad")]), control_port=0) as f:
        yield f


def control(sim: SimFleet, path: str, **body: object) -> dict:
    r = httpx.post(f"{sim.control_url}{path}", json=body, timeout=10)
    assert r.status_code == 200, r.text
    return r.json()


@pytest.fixture
def bad(sim: SimFleet) -> Iterator[ollama.Client]:
    with ollama.Client(host=sim.urls["bad"]) as c:
        yield c


def test_error_mode_answers_500_before_streaming(sim: SimFleet, bad: ollama.Client):
    control(sim, "/nodes/bad/fault", mode="error")
    with pytest.raises(ollama.ResponseError) as err:
        list(bad.chat(**CHAT, stream=True))
    assert err.value.status_code == 500


def test_busy_mode_answers_ollamas_503(sim: SimFleet, bad: ollama.Client):
    control(sim, "/nodes/bad/fault", mode="busy")
    with pytest.raises(ollama.ResponseError) as err:
        bad.generate(model="llama3.2", prompt="x")
    assert err.value.status_code == 503
    assert err.value.error == "server busy, please try again.  maximum pending requests exceeded"


def test_error_mid_stream_is_a_final_error_line_on_a_200_stream(sim: SimFleet, bad: ollama.Client):
    control(sim, "/nodes/bad/fault", mode="error_mid_stream")
    received = []
    with pytest.raises(ollama.ResponseError) as err:
        for chunk in bad.chat(**CHAT, stream=True):
            received.append(chunk)
    assert err.value.status_code == -1  # raised from inside the stream
    assert received and not any(c.done for c in received)


def test_crash_mid_stream_drops_the_connection_without_a_final_line(
    sim: SimFleet, bad: ollama.Client
):
    control(sim, "/nodes/bad/fault", mode="crash_mid_stream")
    received = []
    with pytest.raises(httpx.RemoteProtocolError):
        for chunk in bad.chat(**CHAT, stream=True):
            received.append(chunk)
    assert received and not any(c.done for c in received)
    wait_for(lambda: sim.state("bad")["requests"]["in_flight"] == 0, what="the handler to end")


def test_hang_mode_never_answers_and_frees_everything_when_the_client_leaves(sim: SimFleet):
    control(sim, "/nodes/bad/fault", mode="hang")
    with pytest.raises(httpx.ReadTimeout):
        httpx.post(sim.urls["bad"] + "/api/chat", json=CHAT, timeout=0.3)
    wait_for(lambda: sim.state("bad")["requests"]["in_flight"] == 0, what="the hung handler to end")
    assert sim.state("bad")["requests"]["cancelled"] == 1


def test_down_closes_the_port_and_recover_reopens_it(sim: SimFleet):
    url = sim.urls["bad"]
    control(sim, "/nodes/bad/fault", mode="down")
    with pytest.raises(httpx.ConnectError):
        httpx.get(url, timeout=2)
    nodes = {n["name"]: n for n in get_json(f"{sim.control_url}/nodes")["nodes"]}
    assert nodes["bad"]["up"] is False and nodes["ok"]["up"] is True
    state = control(sim, "/nodes/bad/recover")
    assert state["up"] is True and state["fault"] == "none"
    assert httpx.get(url, timeout=2).text == "Ollama is running"
    assert state["models"]["llama3.2:latest"]["state"] == "loaded"  # booted with its profile


def test_down_drops_in_flight_streams(sim: SimFleet):
    body = {**CHAT, "options": {"num_predict": 1_000_000}}
    with httpx.stream("POST", sim.urls["bad"] + "/api/chat", json=body, timeout=10) as r:
        lines = r.iter_lines()
        next(lines)
        sim.set_fault("bad", "down")
        with pytest.raises(httpx.RemoteProtocolError):
            list(lines)
    sim.recover("bad")


def test_a_fault_with_a_duration_ends_by_itself(sim: SimFleet):
    control(sim, "/nodes/bad/fault", mode="down", duration_s=0.3)
    with pytest.raises(httpx.ConnectError):
        httpx.get(sim.urls["bad"], timeout=2)
    wait_for(lambda: sim.state("bad")["up"], what="automatic recovery")
    assert httpx.get(sim.urls["bad"], timeout=2).status_code == 200


def test_a_node_can_take_itself_down_through_its_own_endpoint(sim: SimFleet):
    r = httpx.post(sim.urls["bad"] + "/_sim/fault", json={"mode": "down", "duration_s": 1})
    assert r.json()["mode"] == "down"
    wait_for(lambda: not sim.state("bad")["up"], what="the node to go down")
    assert httpx.get(sim.urls["ok"] + "/_sim/state").json()["up"] is True


def test_unknown_fault_modes_and_nodes_are_rejected(sim: SimFleet):
    r = httpx.post(f"{sim.control_url}/nodes/bad/fault", json={"mode": "explode"})
    assert r.status_code == 400
    r = httpx.post(f"{sim.control_url}/nodes/nobody/recover", json={})
    assert r.status_code == 404


def test_profile_failure_rates_are_seeded_and_counted(start_fleet):
    f = start_fleet(node("flaky", failures={"busy_rate": 0.5}))
    body = {"model": "llama3.2", "prompt": "x", "stream": False, "options": {"num_predict": 1}}
    with httpx.Client(base_url=f.urls["flaky"]) as http:
        statuses = [http.post("/api/generate", json=body).status_code for _ in range(40)]
    assert set(statuses) == {200, 503}
    assert f.state("flaky")["faults_injected"]["busy"] == statuses.count(503)


def test_request_ids_are_counted_per_node_and_duplicates_reported(sim: SimFleet):
    for name in ("ok", "ok", "bad"):
        r = httpx.post(
            sim.urls[name] + "/api/generate",
            headers={REQUEST_ID_HEADER: "req-1"},
            json={
                "model": "llama3.2",
                "prompt": "x",
                "stream": False,
                "options": {"num_predict": 1},
            },
        )
        assert r.status_code == 200
    control(sim, "/nodes/bad/fault", mode="error")
    httpx.post(
        sim.urls["bad"] + "/api/generate",
        headers={REQUEST_ID_HEADER: "req-2"},
        json={"model": "llama3.2", "prompt": "x"},
    )
    per_node = httpx.get(sim.urls["ok"] + "/_sim/requests").json()
    assert per_node["requests"]["req-1"] == {"received": 2, "completed": 2}
    fleet_view = get_json(f"{sim.control_url}/requests")
    assert fleet_view["requests"]["req-1"]["completed"] == 3
    assert fleet_view["requests"]["req-2"] == {
        "received": 1,
        "completed": 0,
        "nodes": {"bad": {"received": 1, "completed": 0}},
    }
    assert fleet_view["duplicates"] == ["req-1"]


def test_the_state_endpoint_reports_a_fault_and_its_remaining_time(sim: SimFleet):
    control(sim, "/nodes/bad/fault", mode="busy", duration_s=60)
    state = httpx.get(sim.urls["bad"] + "/_sim/state").json()
    assert state["fault"] == "busy" and 0 < state["fault_remaining_s"] <= 60
    assert get_json(f"{sim.control_url}/nodes/ok")["fault"] == "none"
