"""What every example shares: where its Ollama servers come from, and how to send a request.

Without ``--hosts`` an example runs against the demo fleet — the simulated Ollama nodes of
``deploy/sim/mixed.yaml`` (four boxes from an RTX 4090 to a CPU-only desktop), the same fleet
``make run`` starts — so it works on any machine. ``--hosts 127.0.0.1:11434,10.0.0.2:11434``
puts real Ollama servers behind SOLLOL instead.
"""

from __future__ import annotations

import argparse
import json
import urllib.request
from pathlib import Path
from typing import Any

DEMO_PROFILE = Path(__file__).resolve().parents[1] / "deploy" / "sim" / "mixed.yaml"


def parser(description: str) -> argparse.ArgumentParser:
    """The options every example takes."""
    p = argparse.ArgumentParser(description=description)
    p.add_argument("--hosts", help="real Ollama servers, comma-separated host:port (default: demo)")
    p.add_argument("--profile", default=str(DEMO_PROFILE), help="simulated fleet profile")
    p.add_argument("--time-scale", type=float, default=0.2, help="simulator speed (0.1 = 10x)")
    p.add_argument("--port", type=int, default=8000, help="gateway port")
    return p


def fleet(args: argparse.Namespace) -> tuple[dict[str, Any], dict[str, Any]]:
    """(SOLLOLConfig fields, SOLLOL keyword arguments) for the chosen fleet."""
    if args.hosts:
        return {"hosts": args.hosts.split(",")}, {}
    return {}, {"sim_profile": args.profile, "time_scale": args.time_scale}


def post(url: str, body: dict[str, Any], timeout_s: float = 120) -> dict[str, Any]:
    """POST JSON, return the JSON answer (non-streamed)."""
    req = urllib.request.Request(
        url, data=json.dumps(body).encode(), headers={"Content-Type": "application/json"}
    )
    with urllib.request.urlopen(req, timeout=timeout_s) as r:
        answer: dict[str, Any] = json.loads(r.read())
    return answer


def chat(gateway: str, text: str, priority: int = 5, model: str = "llama3.2") -> dict[str, Any]:
    """One non-streamed chat through SOLLOL; the answer carries ``_sollol_routing``."""
    body = {
        "model": model,
        "messages": [{"role": "user", "content": text}],
        "stream": False,
        "options": {"num_predict": 16},
    }
    return post(f"{gateway}/api/chat?priority={priority}", body)


def routed(answer: dict[str, Any]) -> str:
    """One line: where the request ran and why."""
    r = answer["_sollol_routing"]
    return (
        f"routed to {r['host']} (task {r['task_type']}, {r['complexity']}, priority "
        f"{r['priority']}, {r['actual_duration_ms']:.0f} ms): {r['reasoning']}"
    )
