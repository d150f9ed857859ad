"""/api/show is model metadata: profiled as its own task type with nothing to generate, so it is
neither predicted nor recorded (nor learned from) as a chat."""

from sollol.router import FleetSnapshot, HostState, Router, analyse_request
from sollol.router.analysis import TASK_TYPES


def test_show_is_its_own_task_type_with_no_output():
    profile = analyse_request("show", {"model": "llama3.2"}, priority=10)
    assert (profile.task_type, profile.endpoint, profile.output_tokens) == ("show", "show", 0)
    assert profile.model == "llama3.2:latest" and profile.priority == 10
    assert "show" in TASK_TYPES


def test_show_accepts_the_deprecated_name_field():
    assert analyse_request("show", {"name": "qwen3"}).model == "qwen3:latest"


def test_a_show_is_predicted_far_shorter_than_a_chat():
    host = HostState(name="gpu-a", installed={"llama3.2:latest": 2000.0})
    snapshot = FleetSnapshot(hosts=(host,))
    router = Router("performance")
    show = router.route(analyse_request("show", {"model": "llama3.2"}), snapshot)
    chat = router.route(
        analyse_request(
            "chat", {"model": "llama3.2", "messages": [{"role": "user", "content": "hi"}]}
        ),
        snapshot,
    )
    assert show.predicted_ms < chat.predicted_ms
