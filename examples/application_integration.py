"""Embedding SOLLOL in a Python application (as SynapticLlamas did): the application starts the
fleet in the background, its agents talk to it like to one Ollama, and it stops it on exit.

    python examples/application_integration.py            # against the simulated demo fleet
    python examples/application_integration.py --hosts 127.0.0.1:11434,10.0.0.2:11434

Three agents run at once with different priorities: the interactive one (10) is served first
when the fleet is busy, the background summarizer (1) still gets through.
"""

from __future__ import annotations

import sys
from concurrent.futures import ThreadPoolExecutor

from _fleet import chat, fleet, parser, routed

from sollol import SOLLOL, SOLLOLConfig

AGENTS = {  # name → (priority, task)
    "researcher": (10, "Analyze the trade-offs of routing by predicted completion time."),
    "coder": (6, "Write a Python function that merges two sorted lists."),
    "summarizer": (1, "Summarize the following meeting notes in three bullet points."),
}


class MultiAgentApp:
    """An application that owns a SOLLOL fleet for its agents."""

    def __init__(self, sollol: SOLLOL) -> None:
        self.sollol = sollol

    def __enter__(self) -> MultiAgentApp:
        self.sollol.start(blocking=False)  # returns once the gateway and every host answer
        print(f"SOLLOL running for the app at {self.sollol.gateway_url}")
        return self

    def __exit__(self, *exc: object) -> None:
        self.sollol.stop()  # every process SOLLOL started
        print("SOLLOL stopped with the app")

    def ask(self, agent: str) -> str:
        priority, task = AGENTS[agent]
        return f"{agent:<10} {routed(chat(self.sollol.gateway_url, task, priority))}"

    def run_agents(self, rounds: int = 2) -> None:
        with ThreadPoolExecutor(len(AGENTS)) as pool:
            for line in pool.map(self.ask, [a for _ in range(rounds) for a in AGENTS]):
                print(line)


def main() -> int:
    args = parser(__doc__.splitlines()[0]).parse_args()
    hosts, demo = fleet(args)
    sollol = SOLLOL(
        SOLLOLConfig(gateway_port=args.port, routing_strategy="performance", **hosts), **demo
    )
    with MultiAgentApp(sollol) as app:
        app.run_agents()
        status = sollol.get_status()
        print(f"workers: {status['workers']}, strategy: {status['strategy']}")
        stats = sollol.get_stats()
        for key, pattern in stats["patterns"].items():
            print(f"learned {key}: {pattern['count']} requests, avg {pattern['avg_ms']:.0f} ms")
    return 0


if __name__ == "__main__":
    sys.exit(main())
