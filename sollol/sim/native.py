"""Ollama's native text endpoints, /api/generate and /api/chat: streamed NDJSON or one object.

A stream is one token per line, ``{"model","created_at","response"|"message","done":false}``,
then a ``done:true`` line carrying done_reason and the metrics (ollama-api.md §3.2, §3.3).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from aiohttp import web

from sollol.sim.context import FAILED, node_of, started_of
from sollol.sim.engine import Generation
from sollol.sim.faults import MID_STREAM_ERROR, FaultMode
from sollol.sim.node import SimNode
from sollol.sim.parsing import read_body
from sollol.sim.protocol import RequestError, dumps, json_response, ndjson_line, rfc3339_utc
from sollol.sim.streaming import NDJSON, LazyStream, cut_point, drive, drop_connection
from sollol.sim.textgen import TokenPlan, context_ids
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
    request: web.Request, node: SimNode, req: TextRequest, plan: TokenPlan
) -> Generation:
    return Generation(
        node,
        req.spec,
        config=req.config(node),
        keep_alive_s=req.keep_alive_s,
        prompt_tokens=req.prompt_tokens,
        plan=plan,
        started=started_of(request),
    )


async def _stream(
    request: web.Request, node: SimNode, req: TextRequest, fault: FaultMode
) -> web.StreamResponse:
    out = LazyStream(request, NDJSON)
    plan = req.plan(node)
    encode = _chunk_encoder(req)

    async def emit(tokens: tuple[str, ...]) -> None:
        await out.write(encode(tokens))

    async with generation_for(request, node, req, plan) as gen:
        if not await drive(gen, cut_point(node, fault, plan.count), emit):
            if fault is FaultMode.CRASH_MID_STREAM:
                await out.drop()
            request[FAILED] = True
            await out.write(ndjson_line({"error": MID_STREAM_ERROR}))
        else:
            await out.write(ndjson_line(_final(req, "", gen, plan)))
    return await out.finish()


async def _single(
    request: web.Request, node: SimNode, req: TextRequest, fault: FaultMode
) -> web.Response:
    plan = req.plan(node)
    async with generation_for(request, node, req, plan) as gen:
        if not await drive(gen, cut_point(node, fault, plan.count)):
            if fault is FaultMode.CRASH_MID_STREAM:
                await drop_connection(request)
            raise RequestError(500, MID_STREAM_ERROR)  # stream:false failures come back as 500
        final = _final(req, plan.text, gen, plan)
    return json_response(final)


def _head(req: TextRequest) -> dict[str, Any]:
    return {"model": req.model, "created_at": rfc3339_utc()}


def _message(req: TextRequest, text: str) -> dict[str, Any]:
    if req.kind == "chat":
        return {"message": {"role": "assistant", "content": text}}
    return {"response": text}


def _final(req: TextRequest, text: str, gen: Generation, plan: TokenPlan) -> dict[str, Any]:
    """The ``done:true`` object: done_reason, ``context`` (generate, not raw), then the metrics."""
    obj = {**_head(req), **_message(req, text), "done": True, "done_reason": plan.done_reason}
    if req.kind == "generate" and not req.raw:
        obj["context"] = context_ids(req.prompt_tokens, plan)
    obj.update(gen.final_metrics())
    return obj


def _chunk_encoder(req: TextRequest) -> Callable[[tuple[str, ...]], bytes]:
    """Encode a batch of tokens as NDJSON lines, one per token, sharing one timestamp.

    Built by string concatenation because this runs for every token of every stream.
    """
    prefix = '{"model":' + dumps(req.model) + ',"created_at":"'
    if req.kind == "chat":
        open_, close = '"message":{"role":"assistant","content":', '},"done":false}\n'
    else:
        open_, close = '"response":', ',"done":false}\n'

    def encode(tokens: tuple[str, ...]) -> bytes:
        head = f'{prefix}{rfc3339_utc()}",{open_}'
        return "".join(f"{head}{dumps(t)}{close}" for t in tokens).encode()

    return encode
