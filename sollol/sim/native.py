"""Ollama's native text endpoints, /api/generate and /api/chat: streamed NDJSON or one object.

A stream is one token per line, ``{"model","created_at","response"|"message","done":false}``,
then a ``done:true`` line carrying done_reason and the metrics; what goes in each line (thinking,
content, tool calls, logprobs) is :mod:`sollol.sim.chunks`' job.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from aiohttp import web

from sollol.sim.answer import Answer
from sollol.sim.chunks import NativeChunks
from sollol.sim.context import FAILED, node_of, started_of
from sollol.sim.engine import Generation
from sollol.sim.faults import MID_STREAM_ERROR, FaultMode
from sollol.sim.node import SimNode
from sollol.sim.parsing import read_body
from sollol.sim.protocol import RequestError, json_response, ndjson_line, rfc3339_utc
from sollol.sim.streaming import NDJSON, LazyStream, cut_point, drive, drop_connection
from sollol.sim.textrequest import TextRequest, parse_chat, parse_generate

__all__ = ["chat", "generate", "generation_for", "load_or_unload"]

Parser = Callable[[dict[str, Any], SimNode], TextRequest]


async def generate(request: web.Request) -> web.StreamResponse:
    """POST /api/generate."""
    return await _serve(request, parse_generate, "GenerateRequest")


async def chat(request: web.Request) -> web.StreamResponse:
    """POST /api/chat."""
    return await _serve(request, parse_chat, "ChatRequest")


async def _serve(request: web.Request, parse: Parser, go_struct: str) -> web.StreamResponse:
    node = node_of(request)
    req = parse(await read_body(request, go_struct), node)
    fault = await node.faults.before_work()
    if req.load_only:
        reason = await load_or_unload(request, node, req, fault)
        return json_response(
            {**_head(req), **_message(req, ""), "done": True, "done_reason": reason}
        )
    if req.stream:
        return await _stream(request, node, req, fault)
    return await _single(request, node, req, fault)


async def load_or_unload(
    request: web.Request, node: SimNode, req: TextRequest, fault: FaultMode
) -> str:
    """No prompt: load the model (``"load"``), or with keep_alive 0 unload it (``"unload"``)."""
    if fault is FaultMode.CRASH_MID_STREAM:
        await drop_connection(request)
    if fault is FaultMode.ERROR_MID_STREAM:
        raise RequestError(500, MID_STREAM_ERROR)
    if req.keep_alive_s == 0:
        node.scheduler.unload(req.spec.name)
        return "unload"
    scheduler = node.scheduler
    runner = await scheduler.acquire(req.spec, req.config(node), req.keep_alive_s)
    scheduler.release(runner)
    return "load"


def generation_for(
    request: web.Request, node: SimNode, req: TextRequest, plan: Answer
) -> Generation:
    evaluated = req.evaluated_tokens(node)
    return Generation(
        node,
        req.spec,
        config=req.config(node),
        keep_alive_s=req.keep_alive_s,
        prompt_tokens=evaluated,
        plan=plan,
        started=started_of(request),
        # a shifted prompt (longer than the context) or one with images is evaluated afresh
        prompt_text=req.prompt if evaluated == req.prompt_tokens and not req.images else "",
        answer_prefix="\nassistant: " if req.kind == "chat" else "",
    )


async def _stream(
    request: web.Request, node: SimNode, req: TextRequest, fault: FaultMode
) -> web.StreamResponse:
    out = LazyStream(request, NDJSON)
    plan = req.plan(node)
    gen = generation_for(request, node, req, plan)
    chunks = NativeChunks(req, plan, gen.prompt_tokens)

    async def emit(tokens: tuple[str, ...]) -> None:
        if data := chunks.encode(tokens):
            await out.write(data)

    async with gen:
        if not await drive(gen, cut_point(node, fault, plan.count), emit):
            if fault is FaultMode.CRASH_MID_STREAM:
                await out.drop()
            request[FAILED] = True
            await out.write(ndjson_line({"error": MID_STREAM_ERROR}))
        else:
            tail = chunks.tool_call_line()
            final = chunks.final(gen.final_metrics(), whole=False)
            await out.write(tail + ndjson_line(final))
    return await out.finish()


async def _single(
    request: web.Request, node: SimNode, req: TextRequest, fault: FaultMode
) -> web.Response:
    plan = req.plan(node)
    gen = generation_for(request, node, req, plan)
    chunks = NativeChunks(req, plan, gen.prompt_tokens)
    async with gen:
        if not await drive(gen, cut_point(node, fault, plan.count), chunks.encode_silently):
            if fault is FaultMode.CRASH_MID_STREAM:
                await drop_connection(request)
            raise RequestError(500, MID_STREAM_ERROR)  # stream:false failures come back as 500
        final = chunks.final(gen.final_metrics(), whole=True)
    return json_response(final)


def _head(req: TextRequest) -> dict[str, Any]:
    return {"model": req.model, "created_at": rfc3339_utc()}


def _message(req: TextRequest, text: str) -> dict[str, Any]:
    if req.kind == "chat":
        return {"message": {"role": "assistant", "content": text}}
    return {"response": text}
