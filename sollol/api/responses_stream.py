"""The OpenAI Responses stream: native chat stream lines → ``response.*`` server-sent events
with ``sequence_number``, in the order Ollama's ResponsesStreamConverter sends them
(``response.created``, ``response.in_progress``, output items with their deltas, and
``response.completed`` — or ``response.incomplete`` when ``max_output_tokens`` cut the answer —
carrying the whole response)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sollol.api.responses_compat import (
    SseEvent,
    answer_status,
    call_items,
    reasoning_item,
    response_object,
    text_item,
    usage_of,
)

__all__ = ["ResponseStream"]


class ResponseStream:
    """Native chat stream lines → ``response.*`` events (Ollama's ResponsesStreamConverter)."""

    def __init__(self, req: Mapping[str, Any], resp_id: str) -> None:
        self.req, self.resp_id = req, resp_id
        self.seq = 0
        self.index = 0  # output_index of the item being streamed
        self.item_id = f"msg_{resp_id.removeprefix('resp_')}_0"
        self.text: str | None = None  # accumulated text once a message item is open
        self.thinking: str | None = None
        self.done_items: list[dict[str, Any]] = []
        self.had_tools = False

    def _ev(self, kind: str, **data: Any) -> SseEvent:
        self.seq += 1
        return (kind, {"type": kind, "sequence_number": self.seq - 1, **data})

    def _begin(self) -> list[SseEvent]:
        snap = response_object(self.req, self.resp_id, "in_progress", [])
        return [
            self._ev("response.created", response=snap),
            self._ev("response.in_progress", response=snap),
        ]

    def _think(self, delta: str) -> list[SseEvent]:
        out = []
        if self.thinking is None:
            self.thinking = ""
            item = {"id": f"rs_{self.resp_id}", "type": "reasoning", "summary": []}
            out.append(self._ev("response.output_item.added", output_index=self.index, item=item))
        self.thinking += delta
        ids = {"item_id": f"rs_{self.resp_id}", "output_index": self.index, "summary_index": 0}
        out.append(self._ev("response.reasoning_summary_text.delta", **ids, delta=delta))
        return out

    def _end_think(self) -> list[SseEvent]:
        if self.thinking is None:
            return []
        item = reasoning_item(self.resp_id, self.thinking)
        ids = {"item_id": item["id"], "output_index": self.index, "summary_index": 0}
        out = [
            self._ev("response.reasoning_summary_text.done", **ids, text=self.thinking),
            self._ev("response.output_item.done", output_index=self.index, item=item),
        ]
        self.done_items.append(item)
        self.thinking, self.index = None, self.index + 1
        return out

    def _content(self, delta: str) -> list[SseEvent]:
        out = self._end_think()
        ids = {"item_id": self.item_id, "output_index": self.index, "content_index": 0}
        if self.text is None:
            self.text = ""
            item = {**text_item(self.item_id, "", "in_progress"), "content": []}
            part = text_item(self.item_id, "")["content"][0]
            out.append(self._ev("response.output_item.added", output_index=self.index, item=item))
            out.append(self._ev("response.content_part.added", **ids, part=part))
        self.text += delta
        out.append(self._ev("response.output_text.delta", **ids, delta=delta, logprobs=[]))
        return out

    def _calls(self, calls: list[dict[str, Any]]) -> list[SseEvent]:
        out = self._end_think()
        self.had_tools = True
        for item in call_items(self.resp_id, calls):
            item["id"] = f"{item['id']}_{self.index}"
            ids = {"item_id": item["id"], "output_index": self.index}
            added = {**item, "status": "in_progress", "arguments": ""}
            out += [
                self._ev("response.output_item.added", output_index=self.index, item=added),
                self._ev("response.function_call_arguments.delta", **ids, delta=item["arguments"]),
                self._ev(
                    "response.function_call_arguments.done", **ids, arguments=item["arguments"]
                ),
                self._ev("response.output_item.done", output_index=self.index, item=item),
            ]
            self.done_items.append(item)
            self.index += 1
        return out

    def _finish(self, obj: Mapping[str, Any]) -> list[SseEvent]:
        out = self._end_think()
        if self.text is not None:
            item = text_item(self.item_id, self.text)
            ids = {"item_id": self.item_id, "output_index": self.index, "content_index": 0}
            out += [
                self._ev("response.output_text.done", **ids, text=self.text, logprobs=[]),
                self._ev("response.content_part.done", **ids, part=item["content"][0]),
                self._ev("response.output_item.done", output_index=self.index, item=item),
            ]
            self.done_items.append(item)
        status = answer_status(obj)
        final = response_object(self.req, self.resp_id, status, self.done_items, usage_of(obj))
        out.append(self._ev(f"response.{status}", response=final))
        return out

    def on_line(self, obj: Mapping[str, Any]) -> list[SseEvent]:
        """The events for one native stream line; the final line completes the response."""
        out = self._begin() if self.seq == 0 else []
        msg = obj.get("message") or {}
        if msg.get("thinking"):
            out += self._think(str(msg["thinking"]))
        if msg.get("tool_calls"):
            out += self._calls(list(msg["tool_calls"]))
        if msg.get("content") and not self.had_tools:
            out += self._content(str(msg["content"]))
        if obj.get("done"):
            out += self._finish(obj)
        return out
