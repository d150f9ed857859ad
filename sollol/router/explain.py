"""Reasoning text, generated from the estimate and the factors (never hand-written per case)."""

from __future__ import annotations

from collections.abc import Sequence

from sollol.router.estimate import Prediction
from sollol.router.model import HostState

__all__ = ["format_seconds", "reasoning"]


def format_seconds(seconds: float) -> str:
    """``0.25`` → "250 ms", ``1.94`` → "1.9 s", ``31.2`` → "31 s"."""
    if seconds < 1.0:
        return f"{seconds * 1000:.0f} ms"
    return f"{seconds:.1f} s" if seconds < 10.0 else f"{seconds:.0f} s"


def _residency(host: HostState, model: str, pred: Prediction) -> str:
    if host.is_loaded(model):
        return "model loaded"
    return f"model not loaded (load ~{format_seconds(pred.load_s)})"


def reasoning(
    strategy: str,
    host: HostState,
    model: str,
    priority: int,
    *,
    pred: Prediction,
    others: Sequence[tuple[str, float]],
    why: str = "",
    edge: tuple[str, Sequence[tuple[str, float, float]]] | None = None,
) -> str:
    """E.g. "gpu-fast: model loaded, 0 ahead at p≥5, predicted 1.9 s (gpu-mid 4.8 s, cpu-box 31 s)".

    ``others`` are (host, predicted seconds) of the alternatives; ``why`` names a rule that
    decided instead of the score (session affinity, next in turn, least connections …);
    ``edge`` is (faster host, [(factor, this host's value, the faster host's)]) when factors
    other than speed chose this host over one predicted to finish first.
    """
    ahead = host.running + host.queued_at_or_above(priority)
    parts = [
        _residency(host, model, pred),
        f"{ahead} ahead at p≥{priority}",
        f"predicted {format_seconds(pred.total_s)}",
    ]
    if host.health != "healthy":
        parts.insert(0, host.health)
    if host.circuit == "half_open":
        parts.insert(0, "circuit half-open")
    text = f"{host.name}: " + ", ".join(parts)
    if others:
        text += " (" + ", ".join(f"{n} {format_seconds(s)}" for n, s in others) + ")"
    if edge is not None and edge[1]:
        reasons = ", ".join(f"{f} {a:.2f} vs {b:.2f}" for f, a, b in edge[1])
        text += f"; chosen over {edge[0]} for {reasons}"
    prefix = strategy if strategy != "performance" else ""
    if why:
        prefix = f"{prefix}, {why}" if prefix else why
    return f"{prefix} → {text}" if prefix else text
