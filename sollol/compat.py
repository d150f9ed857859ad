"""The original SOLLOL's configuration names, mapped onto this SOLLOL's settings (one table).

The original SOLLOL (Ray, Dask, FastAPI) configured itself with ``SOLLOLConfig(hosts=[...],
gateway_port=8000, routing_strategy="performance", autobatch_interval=30, ...)`` and the CLI
flags of ``python -m sollol.cli up``. Those names keep working: :func:`to_native` turns them into
the settings of :class:`sollol.config.SOLLOLConfig`, which calls it from its constructor.

=========================  ===============================  ========================================
original                   here                             note
=========================  ===============================  ========================================
hosts                      hosts                            hosts-file lines: ``host:port``, URL
gateway_port               port
gateway_host               bind
routing_strategy           strategy                         same names; more strategies exist
autobatch_enabled          autobatch_enabled
autobatch_interval         autobatch_interval_s             seconds
autobatch_min_batch_size   autobatch_min_batch_size
autobatch_max_batch_size   autobatch_max_batch_size
metrics_enabled            metrics_enabled                  ``/metrics`` on the gateway
metrics_port               metrics_port                     same registry on a second port
adaptive_metrics_enabled   (none)                           learning from Ollama's timings is
                                                            always on: it is how routing works
adaptive_metrics_interval  metrics_refresh_interval_s       seconds
health_check_enabled       (none)                           always on: it is how a hung host is
                                                            found
health_check_interval      health_check_interval_s          seconds
max_retries                max_attempts                     hosts tried per request
retry_backoff_multiplier   retry_backoff_s                  first failover waits up to this
chat_timeout               request_timeout_s                seconds, queueing included
embedding_timeout          embed_timeout_s                  seconds
ray_workers                (none)                           each host's Celery worker runs one
                                                            thread per slot: ``worker_slots``
dask_workers               (none)                           batch embeddings are Celery tasks on
                                                            the host workers
dask_scheduler             (none)                           state is shared through Redis:
                                                            ``redis_url``
=========================  ===============================  ========================================

A name without a setting here is accepted with one warning line on the ``sollol`` logger that
says why it has no effect, so the original's examples run unchanged.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from typing import Any

__all__ = ["IGNORED", "RENAMED", "normalise_hosts", "original_view", "to_native"]

log = logging.getLogger("sollol")

RENAMED: Mapping[str, str] = {
    "gateway_port": "port",
    "gateway_host": "bind",
    "routing_strategy": "strategy",
    "autobatch_interval": "autobatch_interval_s",
    "adaptive_metrics_interval": "metrics_refresh_interval_s",
    "health_check_interval": "health_check_interval_s",
    "max_retries": "max_attempts",
    "retry_backoff_multiplier": "retry_backoff_s",
    "chat_timeout": "request_timeout_s",
    "embedding_timeout": "embed_timeout_s",
}

IGNORED: Mapping[str, str] = {
    "ray_workers": "there is no Ray here: each host's Celery worker runs one thread per "
    "slot (worker_slots, or slots= in the hosts file)",
    "dask_workers": "there is no Dask here: batch embeddings run as Celery tasks on the "
    "host workers, as many at once as the hosts have slots",
    "dask_scheduler": "there is no Dask scheduler here: gateways, workers and beat share "
    "state through Redis (redis_url)",
    "adaptive_metrics_enabled": "routing always learns from the timings Ollama reports with "
    "every answer; this cannot be switched off",
    "health_check_enabled": "health checks always run: they are how a hung or dead host is found",
}


def normalise_hosts(value: str | Iterable[str]) -> tuple[str, ...]:
    """``"a:1,b:2"`` or ``["a:1", "b:2"]`` → ``("a:1", "b:2")`` (blanks dropped)."""
    items = value.split(",") if isinstance(value, str) else value
    return tuple(str(h).strip() for h in items if str(h).strip())


def to_native(kwargs: Mapping[str, Any], warn: bool = True) -> dict[str, Any]:
    """``kwargs`` with the original's names replaced by this SOLLOL's; ignored names dropped.

    Raises TypeError when a setting is given under both names, as a constructor would.
    """
    out: dict[str, Any] = {}
    for name, value in kwargs.items():
        if name in IGNORED:
            if warn:
                log.warning("sollol: %s=%r has no effect: %s", name, value, IGNORED[name])
            continue
        native = RENAMED.get(name, name)
        if native in out:
            both = sorted({name, next(k for k in kwargs if RENAMED.get(k, k) == native)})
            raise TypeError(f"{native} given twice (as {' and as '.join(both)})")
        out[native] = value
    if "hosts" in out:
        out["hosts"] = normalise_hosts(out["hosts"])
    return out


def original_view(cfg: Any) -> dict[str, Any]:
    """The settings of ``cfg`` under the original SOLLOL's names (what ``get_status`` shows)."""
    view: dict[str, Any] = {"hosts": list(cfg.hosts)}
    for original, native in RENAMED.items():
        view[original] = getattr(cfg, native)
    for same in (
        "autobatch_enabled",
        "autobatch_min_batch_size",
        "autobatch_max_batch_size",
        "metrics_enabled",
        "metrics_port",
    ):
        view[same] = getattr(cfg, same)
    return view
