"""Distributed deployments: which box runs what, and three tuned configurations.

    python examples/multi_machine_setup.py machine1      # the coordinator box (Redis, gateway, beat)
    python examples/multi_machine_setup.py gpu-heavy     # long generations on big GPUs
    python examples/multi_machine_setup.py low-latency   # short interactive requests
    python examples/multi_machine_setup.py gpu-box       # print what a GPU box runs

In the original SOLLOL a Dask scheduler tied the machines together. Here it is Redis: one box
runs Redis, the gateway, beat and a control worker (``machine1``); every GPU box runs only a
Celery worker next to its Ollama, pointed at that Redis (``gpu-box`` prints the commands).
Each mode except ``gpu-box`` starts the configuration on this box against the demo fleet (or
``--hosts``), sends a few requests, shows where they went, and stops.
"""

from __future__ import annotations

import sys
from typing import Any

from _fleet import chat, fleet, parser, routed

from sollol import SOLLOL, SOLLOLConfig

MODES: dict[str, dict[str, Any]] = {
    # the coordinator: defaults (for clients on other machines: gateway_host="0.0.0.0", which
    # then asks for API keys, see the README)
    "machine1": {"routing_strategy": "performance"},
    # big models, long answers: patience, and room for queued work
    "gpu-heavy": {
        "routing_strategy": "performance",
        "chat_timeout": 900.0,
        "max_retries": 2,
        "health_check_interval": 15,
        "worker_slots": 8,
    },
    # short interactive requests: fail over fast, notice a dead host fast
    "low-latency": {
        "routing_strategy": "least_connections",
        "chat_timeout": 30.0,
        "max_retries": 3,
        "retry_backoff_multiplier": 0.02,
        "health_check_interval": 2,
    },
}


def print_gpu_box_commands() -> None:
    print("On each GPU box, next to its Ollama (install from a source checkout or a wheel")
    print("built by `make dist`, or use the Docker image):")
    print("  export SOLLOL_REDIS_URL=redis://<machine1>:6379/0")
    print("  export SOLLOL_OLLAMA_URL=http://127.0.0.1:11434 SOLLOL_WORKER_SLOTS=4")
    print("  celery -A sollol worker -Q gpu-a -n gpu-a@%h     # or: sollol worker gpu-a")


def run_mode(mode: str, args: Any) -> None:
    hosts, demo = fleet(args)
    config = SOLLOLConfig(gateway_port=args.port, **MODES[mode], **hosts)
    print(
        f"mode {mode}: strategy {config.strategy}, chat timeout {config.request_timeout_s:.0f} s, "
        f"{config.max_attempts} attempts, health checks every {config.health_check_interval_s:g} s"
    )
    with SOLLOL(config, **demo) as sollol:
        if mode == "machine1":
            print(
                f"gateway for the fleet at {sollol.gateway_url}; Redis at {sollol.get_status()['redis_url']}"
            )
            print_gpu_box_commands()
        for priority in (9, 5, 2):
            print(routed(chat(sollol.gateway_url, "Explain what a load balancer does.", priority)))
        print(f"health: {sollol.get_health()['status']}")


def main() -> int:
    p = parser(__doc__.splitlines()[0])
    p.add_argument("mode", choices=[*MODES, "gpu-box"])
    args = p.parse_args()
    if args.mode == "gpu-box":
        print_gpu_box_commands()
        return 0
    run_mode(args.mode, args)
    return 0


if __name__ == "__main__":
    sys.exit(main())
