"""Basic usage: start SOLLOL from Python with the default and with a custom configuration.

    python examples/basic_usage.py                       # against the simulated demo fleet
    python examples/basic_usage.py --hosts 127.0.0.1:11434,10.0.0.2:11434

The configuration uses the original SOLLOL's field names; ``ray_workers`` and ``dask_workers``
are accepted and explained away (a one-line warning), since Celery workers do that job here.
"""

from __future__ import annotations

import sys

from _fleet import chat, fleet, parser, post, routed

from sollol import SOLLOL, SOLLOLConfig


def default_configuration(args) -> None:
    """The Quick Start: hosts, a strategy, start without blocking, check, stop."""
    hosts, demo = fleet(args)
    config = SOLLOLConfig(
        ray_workers=4,
        dask_workers=4,
        autobatch_interval=30,
        routing_strategy="performance",
        gateway_port=args.port,
        **hosts,
    )
    sollol = SOLLOL(config, **demo)
    sollol.start(blocking=False)
    try:
        status = sollol.get_status()
        print(f"Running: {status['running']} at {status['gateway_url']}")
        print(f"hosts: {', '.join(h['name'] + ' ' + h['health'] for h in status['hosts'])}")
        print(routed(chat(sollol.gateway_url, "Analyze this data and extract key insights", 8)))
        embedded = post(
            f"{sollol.gateway_url}/api/embed",
            {"text": "This is a test document", "model": "nomic-embed-text"},
        )
        print(f"embedding of {len(embedded['embeddings'][0])} dimensions")
    finally:
        sollol.stop()
    print(f"Running: {sollol.get_status()['running']}")


def custom_configuration(args) -> None:
    """Every original setting, a live update, health and statistics; as a context manager."""
    hosts, demo = fleet(args)
    config = SOLLOLConfig(
        gateway_port=args.port,
        gateway_host="127.0.0.1",
        routing_strategy="performance",
        autobatch_enabled=True,
        autobatch_interval=60,
        autobatch_min_batch_size=1,
        autobatch_max_batch_size=100,
        metrics_enabled=True,
        adaptive_metrics_interval=30,
        health_check_interval=10,
        max_retries=3,
        retry_backoff_multiplier=0.5,
        chat_timeout=300.0,
        embedding_timeout=60.0,
        **hosts,
    )
    with SOLLOL(config, **demo) as sollol:
        for priority in (10, 5, 1):
            print(routed(chat(sollol.gateway_url, "Summarize: SOLLOL routes requests.", priority)))
        change = sollol.update_config(routing_strategy="least_connections", autobatch_interval=45)
        print(f"applied live: {change['applied']}")
        health = sollol.get_health()
        print(f"health: {health['status']}, {health['hosts']['healthy']} healthy hosts")
        stats = sollol.get_stats()
        print(f"decisions recorded: {stats['routing']['decisions']}")


def main() -> int:
    args = parser(__doc__.splitlines()[0]).parse_args()
    print("--- default configuration")
    default_configuration(args)
    print("--- custom configuration")
    custom_configuration(args)
    return 0


if __name__ == "__main__":
    sys.exit(main())
