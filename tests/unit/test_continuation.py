"""An answer that dies after lines reached the client is continued on another host: the next
attempt asks for the rest (the partial answer as the start of the answer, ``num_predict``
lowered), the client's stream goes on and its one final line counts the whole answer. Where that
would fake the answer (a tool call sent, a JSON ``format``, thinking in progress) the error
stands. Fakes stand in for the dispatcher and the relay; no Redis."""

from __future__ import annotations

import json
import random
from dataclasses import dataclass, field
from typing import Any

import pytest

from sollol.api.call import Call
from sollol.api.errors import GatewayError, UpstreamError
from sollol.api.lifecycle import CallLifecycle
from sollol.api.relay import AttemptLost
from sollol.router import analyse_request
from tests.unit.test_lifecycle import FakeDispatcher, FakeFleet, FakeRelay

LOST = AttemptLost("host: dropped the connection", UpstreamError("dropped", 502))


def _line(obj: dict[str, Any]) -> bytes:
    return json.dumps(obj).encode()


def chat(text: str = "", thinking: str = "", done: bool = False, **counts: int) -> bytes:
    message = {"role": "assistant", "content": text, **({"thinking": thinking} if thinking else {})}
    return _line({"model": "llama3.2", "message": message, "done": done, **counts})


def gen(text: str, done: bool = False, **counts: int) -> bytes:
    return _line({"model": "llama3.2", "response": text, "done": done, **counts})


@dataclass
class RecordingDispatcher(FakeDispatcher):
    """Remembers the (endpoint, body) each attempt was published with."""

    jobs: list[tuple[str, dict[str, Any]]] = field(default_factory=list)

    def submit(self, call: Call) -> None:
        super().submit(call)
        self.jobs.append((call.job_endpoint or call.endpoint, call.job_body or call.body))


def _run(endpoint: str, body: dict[str, Any], *attempts: list[object]):
    dispatcher = RecordingDispatcher(fleet=FakeFleet())
    relay = FakeRelay(*attempts)
    call = Call(endpoint, body, analyse_request(endpoint, body), "llama3.2")
    finished: list[str] = []
    lc = CallLifecycle(
        call,
        dispatcher,  # type: ignore[arg-type]
        lambda c, outcome: finished.append(outcome),
        random.Random(0),
        relay=relay,  # type: ignore[arg-type]
    )
    return lc.start(), dispatcher, relay, finished


CHAT_BODY = {"model": "llama3.2", "messages": [{"role": "user", "content": "hi"}]}


def test_a_chat_cut_mid_answer_goes_on_from_a_trailing_assistant_message():
    body = {**CHAT_BODY, "options": {"num_predict": 5}}
    first = [("chunk", chat("One")), ("chunk", chat(" two")), LOST]
    second = [("chunk", chat(" three")), ("final", chat(done=True, eval_count=3))]
    lc, dispatcher, _, finished = _run("chat", body, first, second)
    events = list(lc.events())
    assert [json.loads(d)["message"]["content"] for _, d in events] == ["One", " two", " three", ""]
    endpoint, job = dispatcher.jobs[1]
    assert endpoint == "chat" and job["options"] == {"num_predict": 3}
    assert job["messages"] == [*CHAT_BODY["messages"], {"role": "assistant", "content": "One two"}]
    final = json.loads(events[-1][1])
    assert final["done"] and final["eval_count"] == 5
    assert lc.call.continued_from == [
        {"host": "host-1", "attempt": 1, "tokens": 2, "why": LOST.why}
    ]
    assert lc.call.tried == ["host-1", "host-2"] and finished == ["ok"]


def test_a_templated_generate_continues_as_the_chat_it_renders_and_streams_generate_lines():
    body = {"model": "llama3.2", "prompt": "Say it", "system": "Be brief"}
    first = [("chunk", gen("Yes")), LOST]
    second = [("chunk", chat(" sir")), ("final", chat(done=True, eval_count=1))]
    lc, dispatcher, _, _ = _run("generate", body, first, second)
    lines = [json.loads(d) for _, d in lc.events()]
    assert [(x["response"], x["done"]) for x in lines] == [
        ("Yes", False),
        (" sir", False),
        ("", True),
    ]
    assert all("message" not in x for x in lines) and lines[-1]["eval_count"] == 2
    endpoint, job = dispatcher.jobs[1]
    assert endpoint == "chat" and "prompt" not in job and "system" not in job
    assert job["messages"] == [
        {"role": "system", "content": "Be brief"},
        {"role": "user", "content": "Say it"},
        {"role": "assistant", "content": "Yes"},
    ]


def test_a_raw_generate_continues_with_the_partial_answer_appended_to_its_prompt():
    body = {"model": "llama3.2", "prompt": "[INST] hi [/INST]", "raw": True}
    first = [("chunk", gen(" Hello")), LOST]
    second = [("final", gen("", done=True, eval_count=0))]
    lc, dispatcher, _, _ = _run("generate", body, first, second)
    assert json.loads(lc.join())["eval_count"] == 1
    assert dispatcher.jobs[1] == ("generate", {**body, "prompt": "[INST] hi [/INST] Hello"})


def test_an_answer_whose_num_predict_was_all_sent_ends_with_a_final_line_of_its_own():
    body = {**CHAT_BODY, "options": {"num_predict": 2}}
    lc, dispatcher, _, finished = _run(
        "chat", body, [("chunk", chat("a")), ("chunk", chat(" b")), LOST]
    )
    final = json.loads(list(lc.events())[-1][1])
    assert final["done"] and final["done_reason"] == "length" and final["eval_count"] == 2
    assert dispatcher.submitted == 1 and finished == ["ok"]


def test_an_answer_is_continued_again_until_the_attempt_limit_then_the_error_stands():
    attempts = [[("chunk", chat(f" w{n}")), LOST] for n in range(5)]
    lc, dispatcher, _, finished = _run("chat", CHAT_BODY, *attempts)
    events = lc.events()
    sent = []
    with pytest.raises(UpstreamError, match="dropped"):
        for _, data in events:
            sent.append(json.loads(data)["message"]["content"])
    limit = lc.dispatcher.cfg.max_attempts  # type: ignore[attr-defined]
    assert sent == [f" w{n}" for n in range(limit)] and dispatcher.submitted == limit
    last_job = dispatcher.jobs[-1][1]
    assert last_job["messages"][-1]["content"] == "".join(sent[:-1])
    assert finished == ["error"]


def test_a_redis_restart_mid_answer_publishes_the_continuation_and_reads_the_stream_anew():
    lost = AttemptLost("Redis lost it", UpstreamError("lost", 502), state_lost=True)
    first = [("chunk", chat("Hi")), lost]
    lc, dispatcher, relay, _ = _run(
        "chat", CHAT_BODY, first, [("final", chat(done=True, eval_count=4))]
    )
    assert json.loads(lc.join())["eval_count"] == 5
    assert relay.restarted == 1 and dispatcher.jobs[1][1]["messages"][-1]["content"] == "Hi"


def _tool_chunk() -> bytes:
    call = {"function": {"name": "get_weather", "arguments": {"city": "Paris"}}}
    message = {"role": "assistant", "content": "", "tool_calls": [call]}
    return _line({"model": "llama3.2", "message": message, "done": False})


@pytest.mark.parametrize(
    ("body", "lines", "why"),
    [
        (CHAT_BODY, [_tool_chunk()], "a tool call was already sent"),
        ({**CHAT_BODY, "format": "json"}, [chat('{"a":')], "partial JSON answer"),
        ({**CHAT_BODY, "think": True}, [chat(thinking="Hmm")], "still thinking"),
        ({"model": "llama3.2", "prompt": "def f(", "suffix": "):"}, [gen("x")], "suffix"),
    ],
)
def test_what_cannot_be_continued_honestly_ends_with_the_error(body, lines, why):
    endpoint = "chat" if "messages" in body else "generate"
    attempts = [[("chunk", line) for line in lines] + [LOST], [("final", chat(done=True))]]
    lc, dispatcher, _, finished = _run(endpoint, body, *attempts)
    with pytest.raises(GatewayError, match=why) as raised:
        list(lc.events())
    assert raised.value.status == 502 and "dropped" in raised.value.message
    assert dispatcher.submitted == 1 and finished == ["error"]


def test_a_thinking_answer_that_had_begun_its_text_continues_without_thinking_again():
    body = {**CHAT_BODY, "think": True, "options": {"num_predict": 10}}
    first = [
        ("chunk", chat(thinking="Hmm")),
        ("chunk", chat(thinking=" ok")),
        ("chunk", chat("Yes")),
        LOST,
    ]
    lc, dispatcher, _, _ = _run("chat", body, first, [("final", chat(done=True, eval_count=7))])
    assert json.loads(lc.join())["eval_count"] == 10
    job = dispatcher.jobs[1][1]
    assert job["think"] is False and job["options"] == {"num_predict": 7}
    assert job["messages"][-1] == {"role": "assistant", "content": "Yes", "thinking": "Hmm ok"}
