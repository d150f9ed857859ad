"""SOLLOL settings: one place, defaults in code with units, overridden by ``SOLLOL_*`` env vars.

Precedence (lowest to highest): the defaults below, ``SOLLOL_<FIELD>`` environment variables,
keyword overrides passed by code (``SOLLOLConfig(...)``, ``load_config(strategy="random")``) or tests.
No other module reads ``os.environ``; everything asks for a :class:`SOLLOLConfig`.
"""

from __future__ import annotations

import dataclasses
import functools
import os
import types
import typing
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from typing import Any

__all__ = ["ENV_PREFIX", "ConfigError", "SOLLOLConfig", "child_env", "load_config"]

ENV_PREFIX = "SOLLOL_"


# gunicorn worker classes the gateway runs under (gevent: greenlets; gthread: threads)
GATEWAY_WORKER_CLASSES = ("gevent", "gthread")


class ConfigError(ValueError):
    """A setting has a value of the wrong type or outside its range."""


@dataclass(frozen=True)
class SOLLOLConfig:
    """Every tunable of gateway, workers, beat and CLI. Units are in the names (_s, _ms, _bytes).

    The original SOLLOL's field names are accepted too (``gateway_port=8000``,
    ``routing_strategy="performance"``, ``autobatch_interval=30``…) and mapped onto these
    settings by :mod:`sollol.compat`, whose table lists every one.
    """

    # --- connections -------------------------------------------------------------------------
    redis_url: str = ""  # empty: `sollol up` starts an embedded redis-server
    # master name the sentinels monitor, when redis_url lists sentinels (sentinel://h:26379;…)
    redis_sentinel_master: str = "mymaster"
    # behind sentinels, a Redis command waits this long for a new master before it fails
    redis_failover_s: float = 30.0
    ollama_url: str = "http://127.0.0.1:11434"  # the worker's local Ollama
    host_name: str = ""  # worker's host/queue name; empty: taken from `-Q`
    # Ollama servers `sollol up` / SOLLOL.start() run a worker for: hosts-file lines (sollol.hosts)
    hosts: tuple[str, ...] = ()
    # --- gateway -------------------------------------------------------------------------------
    bind: str = "127.0.0.1"
    port: int = 8000
    # gunicorn worker class: "gevent" (one greenlet per open request, gateway_connections of
    # them per process) or "gthread" (one thread per open request, gateway_threads of them)
    gateway_worker_class: str = "gevent"
    gateway_connections: int = 1000  # gevent: open requests (streams, queued calls) per process
    gateway_threads: int = 64  # gthread: threads per process; each open request holds one
    gateway_workers: int = 1
    strategy: str = "performance"
    default_priority: int = 5  # 1..10, 10 = critical
    max_body_bytes: int = 32 * 1024 * 1024
    request_timeout_s: float = 600.0  # whole request, queueing included
    first_chunk_timeout_s: float = 300.0  # until a worker starts the request (queue + load)
    idle_chunk_timeout_s: float = 120.0  # between two chunks of a running request
    message_expires_s: float = 600.0  # Celery `expires` of every routed message
    snapshot_cache_ms: float = 250.0
    fast_publish: bool = True  # build Celery's message directly (api/publish.py); False: send_task
    broker_wait_s: float = 3.0  # how long a publish waits for Redis (a restart) before a 503
    max_queue_per_host: int = 256
    max_queue_total: int = 2048
    max_attempts: int = 3  # hosts tried per request before the error reaches the client
    retry_backoff_s: float = 0.05  # failover waits up to this x 2^(attempt-1), full jitter
    embed_timeout_s: float = 60.0  # whole embedding request (chat/generate: request_timeout_s)
    # --- metrics -------------------------------------------------------------------------------
    metrics_enabled: bool = True  # /metrics on the gateway
    metrics_port: int = (
        0  # also serve the same registry on this port (the original's 9090); 0 = off
    )
    # --- workers -------------------------------------------------------------------------------
    worker_slots: int = 4  # concurrent requests a worker sends to its Ollama (= num_parallel)
    worker_vram_mb: int = 0  # GPU memory of the box; 0 = unknown (Ollama's API does not report it)
    worker_max_loaded_models: int = 3  # OLLAMA_MAX_LOADED_MODELS of the box
    worker_tags: str = ""  # comma-separated, e.g. "gpu,code"; "cpu" marks a CPU-only box
    ollama_connect_timeout_s: float = 5.0
    ollama_read_timeout_s: float = 300.0  # max silence between two chunks from Ollama
    heartbeat_interval_s: float = 2.0
    heartbeat_ttl_s: float = 10.0  # host is down when its heartbeat is older than this
    task_events: bool = False  # Celery task events; Flower switches them on at run time anyway
    # --- streams and state in Redis ------------------------------------------------------------
    key_prefix: str = "sollol:"
    stream_ttl_s: int = 300
    stream_maxlen: int = 100_000
    decisions_kept: int = 200
    # --- Celery on Redis -----------------------------------------------------------------------
    # unacked age before kombu restores a message; live workers renew theirs every second
    visibility_timeout_s: int = 30
    unacked_restore_interval_s: float = 2.0
    # --- beat ----------------------------------------------------------------------------------
    # "" = Celery's file scheduler (run exactly one beat); "redbeat" = schedule and a lock in
    # Redis, so several beats can run and one takes over within ~redbeat_lock_timeout_s
    beat_scheduler: str = ""
    redbeat_lock_timeout_s: int = 30
    health_check_interval_s: float = 5.0
    metrics_refresh_interval_s: float = 5.0
    aging_interval_s: float = 2.0
    aging_step_s: float = 10.0  # queued this long: promoted one priority level
    reroute_interval_s: float = 3.0
    # batch embeddings (/api/embed/batch): beat cuts queued docs into chunks every interval
    autobatch_enabled: bool = True
    autobatch_interval_s: float = 5.0
    autobatch_min_batch_size: int = 1  # docs queued before a cycle starts a chunk
    autobatch_max_batch_size: int = 100  # docs per chunk at most
    # --- batch embeddings: jobs, results, scatter-gather (sollol/state/batch.py) ---------------
    default_embed_model: str = "nomic-embed-text"  # /api/embed/batch without "model"
    batch_priority: int = 2  # 1..10: chunks queue behind interactive requests (default 5)
    batch_result_ttl_s: int = 86_400  # docs and vectors expire this long after the last change
    batch_max_docs: int = 1_000_000  # docs per job
    batch_max_bytes: int = 1024 * 1024 * 1024  # upload size of one job (JSON or NDJSON)
    batch_max_jobs_queued: int = 64  # unfinished jobs at once; beyond: 429
    batch_chunk_retries: int = 3  # a failed chunk runs again on another host this many times
    scatter_threshold: int = 64  # /api/embed and /v1/embeddings inputs above which hosts share it
    # --- models across the fleet (sollol/api/models.py, sollol/workers/placement.py) --------
    model_op_timeout_s: float = 3600.0  # a fan-out pull/push/create ends with an error after this
    model_op_start_timeout_s: float = 30.0  # a host whose worker has not begun by then failed
    # pre-load hot models on hosts that have them installed; off by default: on the shifting-demand
    # benchmark it did not lower p99 (bench/RESULTS.md section 8)
    placement_enabled: bool = False
    placement_interval_s: float = 10.0  # one decision round; at most one pre-load per host each
    placement_wait_threshold_s: float = 5.0  # predicted wait of a model that triggers a pre-load
    placement_keep_alive_s: float = 120.0  # keep_alive of a pre-loaded copy; it expires unused
    placement_window_s: float = 60.0  # seconds of finished calls that make a model's demand
    # --- circuit breaker per host -------------------------------------------------------------
    circuit_failures_to_open: int = 3  # consecutive host failures that open the circuit
    circuit_open_s: float = 10.0  # open this long, then half-open (probes and a slow ramp)
    circuit_successes_to_close: int = 3  # successes in half-open that close it again
    # --- learning ------------------------------------------------------------------------------
    ewma_alpha: float = 0.2
    # the fleet's delays ÷ real ones: 1 on real Ollama; a simulated fleet run with --time-scale F
    # needs F here, or the router prices cold loads 1/F times too dear (Tuning.scaled)
    time_scale: float = 1.0
    # GIL switch interval of gateway and worker processes (Python's default is 5 ms): a thread
    # woken by I/O waits at most this long for one busy with CPU, which is most of the latency
    # SOLLOL adds at low load (bench/overhead.py)
    switch_interval_ms: float = 0.5
    # --- API keys (sollol/api/auth.py) ------------------------------------------------------
    # "auto": keys required when the gateway binds a non-loopback address; "on"; "off"
    auth: str = "auto"
    keys_file: str = ""  # YAML keys file (hashed keys), besides the keys stored in Redis
    metrics_token: str = ""  # a bearer token that may read /metrics without an admin key
    # an admin key given by the environment (bootstrap, compose); `sollol up` makes one per run
    # for its own checks when keys are required and none is set
    admin_key: str = ""
    # Flower's HTTP basic auth, "user:password[,user2:password2]"; required off loopback
    flower_basic_auth: str = ""
    # --- misc ----------------------------------------------------------------------------------
    log_level: str = "INFO"
    # unknown SOLLOL_* variables, kept for plugins
    extra: Mapping[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not 1 <= self.default_priority <= 10:
            raise ConfigError(f"default_priority must be 1..10, got {self.default_priority}")
        if self.worker_slots < 1:
            raise ConfigError(f"worker_slots must be >= 1, got {self.worker_slots}")
        if not 0 < self.ewma_alpha <= 1:
            raise ConfigError(f"ewma_alpha must be in (0, 1], got {self.ewma_alpha}")
        if self.max_attempts < 1:
            raise ConfigError(f"max_attempts must be >= 1, got {self.max_attempts}")
        if not self.time_scale > 0:
            raise ConfigError(f"time_scale must be > 0, got {self.time_scale}")
        if self.gateway_worker_class not in GATEWAY_WORKER_CLASSES:
            raise ConfigError(
                f"gateway_worker_class must be one of {', '.join(GATEWAY_WORKER_CLASSES)}, "
                f"got {self.gateway_worker_class!r}"
            )
        if self.gateway_connections < 1 or self.gateway_threads < 1:
            raise ConfigError(
                "gateway_connections and gateway_threads must be >= 1, got "
                f"{self.gateway_connections} and {self.gateway_threads}"
            )

    @property
    def gateway_open_requests(self) -> int:
        """Requests one gateway process holds open at once (its worker class's limit)."""
        if self.gateway_worker_class == "gevent":
            return self.gateway_connections
        return self.gateway_threads

    def replace(self, **changes: Any) -> SOLLOLConfig:
        """A copy with ``changes`` applied (validated like the original)."""
        from sollol.compat import to_native

        return dataclasses.replace(self, **to_native(changes))

    def key(self, *parts: object) -> str:
        """A Redis key under the configured prefix: ``key("host", "a")`` → ``sollol:host:a``."""
        return self.key_prefix + ":".join(str(p) for p in parts)


def _accept_original_names(init: Any) -> Any:
    """Wrap the dataclass ``__init__`` so the original SOLLOL's field names work (sollol.compat)."""

    @functools.wraps(init)
    def __init__(self: SOLLOLConfig, *args: Any, **kwargs: Any) -> None:
        from sollol.compat import to_native

        init(self, *args, **to_native(kwargs))

    return __init__


setattr(SOLLOLConfig, "__init__", _accept_original_names(SOLLOLConfig.__init__))  # noqa: B010


def _split(raw: str) -> tuple[str, ...]:
    return tuple(part.strip() for part in raw.split(",") if part.strip())


def _coerce(name: str, raw: str, typ: Any) -> Any:
    origin = typing.get_origin(typ)
    if origin is tuple:
        return _split(raw)
    if origin in (typing.Union, types.UnionType):
        typ = next(a for a in typing.get_args(typ) if a is not type(None))
    try:
        if typ is bool:
            lowered = raw.strip().lower()
            if lowered in ("1", "true", "yes", "on"):
                return True
            if lowered in ("0", "false", "no", "off", ""):
                return False
            raise ValueError(raw)
        if typ in (int, float, str):
            return typ(raw)
    except ValueError:
        raise ConfigError(
            f"{ENV_PREFIX}{name.upper()}={raw!r} is not a valid {typ.__name__}"
        ) from None
    raise ConfigError(f"{ENV_PREFIX}{name.upper()} cannot be set from the environment")


def load_config(env: Mapping[str, str] | None = None, **overrides: Any) -> SOLLOLConfig:
    """Defaults, then ``SOLLOL_*`` variables from ``env`` (default: os.environ), then overrides."""
    env = os.environ if env is None else env
    hints = typing.get_type_hints(SOLLOLConfig)
    known = {f.name for f in fields(SOLLOLConfig)} - {"extra"}
    values: dict[str, Any] = {}
    extra: dict[str, str] = {}
    for var, raw in env.items():
        if not var.startswith(ENV_PREFIX):
            continue
        name = var[len(ENV_PREFIX) :].lower()
        if name in known:
            values[name] = _coerce(name, raw, hints[name])
        else:
            extra[name] = raw
    values["extra"] = extra
    values.update(overrides)
    return SOLLOLConfig(**values)


def child_env(cfg: SOLLOLConfig, **settings: object) -> dict[str, str]:
    """Environment for a child process (worker, beat, gateway) that must share ``cfg``.

    The parent's environment minus its ``SOLLOL_*`` variables, then every setting of ``cfg`` that
    differs from the default as ``SOLLOL_*``, then ``settings`` (``worker_slots=2`` → SOLLOL_WORKER_SLOTS).
    """
    env = {k: v for k, v in os.environ.items() if not k.startswith(ENV_PREFIX)}
    defaults = SOLLOLConfig()
    for f in fields(SOLLOLConfig):
        value = getattr(cfg, f.name)
        if f.name != "extra" and value != getattr(defaults, f.name):
            env[ENV_PREFIX + f.name.upper()] = ",".join(value) if f.name == "hosts" else str(value)
    for name, raw in cfg.extra.items():
        env[ENV_PREFIX + name.upper()] = raw
    for name, value in settings.items():
        env[ENV_PREFIX + name.upper()] = str(value)
    env.setdefault("PYTHONUNBUFFERED", "1")
    return env
