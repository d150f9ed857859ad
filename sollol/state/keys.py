"""API keys: who may use the gateway, with which limits. Stored hashed, compared in constant time.

A key is ``sk-sollol-`` followed by 32 random bytes (URL-safe base64). Only its SHA-256 digest is
ever stored, in Redis (shared by every gateway replica) or in a keys file that operators manage
themselves; the plain key is shown once, when it is created.

Redis layout (under the configured prefix)::

    apikeys               hash   name → JSON record (digest, limits, admin, created/expires/revoked)
    apikey:<sha256 hex>   string name, for the O(1) lookup of a presented key

A keys file (``SOLLOL_KEYS_FILE``, YAML) lists records in the same shape, with ``sha256:`` (or,
for a quick test setup, ``key:`` in clear) instead of the digest::

    keys:
      - {name: alice, sha256: 9f86d08…, rpm: 60, models: [llama3.2]}
      - {name: ops, key: sk-sollol-…, admin: true}

Lookups are cached in-process for ``CACHE_S`` seconds, so a revoked key stops working within that.
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import json
import secrets
import threading
import time
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

import yaml

from sollol.config import ConfigError, SOLLOLConfig

__all__ = [
    "CACHE_S",
    "KEY_PREFIX",
    "ApiKey",
    "KeyProblem",
    "KeyStore",
    "auth_headers",
    "auth_required",
    "digest_of",
    "is_loopback",
    "load_keys_file",
    "new_secret",
]

KEY_PREFIX = "sk-sollol-"
CACHE_S = 1.0  # how long a lookup is trusted in-process (revocation delay), seconds
NAME_CHARS = set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_.@")


class KeyProblem(ValueError):
    """A key operation that cannot be done (unknown name, duplicate name, bad limit)."""


@dataclass(frozen=True)
class ApiKey:
    """One key's identity and limits; 0 (or an empty list) means unlimited."""

    name: str
    digest: str  # SHA-256 hex of the secret
    admin: bool = False  # may see the fleet, manage models and keys
    max_priority: int = 10  # requests asking for more are capped to this
    rpm: int = 0  # requests per minute
    tpm: int = 0  # tokens per minute (prompt + generated, as Ollama counts them)
    concurrency: int = 0  # requests in flight at once
    models: tuple[str, ...] = ()  # allowed models (names as clients spell them); () = all
    created_at: float = 0.0
    expires_at: float = 0.0  # unix time; 0 = never
    revoked_at: float = 0.0  # unix time; 0 = active
    source: str = "redis"  # redis | file

    def allows_model(self, model: str) -> bool:
        """True if this key may use ``model`` ("llama3.2" also allows "llama3.2:latest")."""
        if not self.models:
            return True
        wanted = {model, model.removesuffix(":latest")}
        return any(m in wanted or f"{m}:latest" in wanted for m in self.models)

    def problem(self, now: float) -> str:
        """Why the key cannot be used now ("" if it can)."""
        if self.revoked_at:
            return "API key revoked"
        if self.expires_at and now >= self.expires_at:
            return "API key expired"
        return ""

    def to_json(self) -> str:
        d = asdict(self)
        d["models"] = list(self.models)
        return json.dumps(d, separators=(",", ":"))

    @classmethod
    def from_mapping(cls, d: dict[str, Any], source: str = "redis") -> ApiKey:
        known = set(cls.__dataclass_fields__)
        values = {k: v for k, v in d.items() if k in known}
        values["models"] = tuple(values.get("models") or ())
        values["source"] = source
        key = cls(**values)
        _check_limits(key)
        return key

    def public(self) -> dict[str, Any]:
        """What ``sollol keys list`` and the admin API show: everything but the digest."""
        d = asdict(self)
        d.pop("digest")
        d["models"] = list(self.models)
        return d


def _check_limits(key: ApiKey) -> None:
    if not key.name or not set(key.name) <= NAME_CHARS:
        raise KeyProblem(f"invalid key name {key.name!r}: use letters, digits and -_.@")
    if not 1 <= key.max_priority <= 10:
        raise KeyProblem(f"max_priority must be 1..10, got {key.max_priority}")
    for limit in ("rpm", "tpm", "concurrency"):
        if getattr(key, limit) < 0:
            raise KeyProblem(f"{limit} must be >= 0 (0 = unlimited)")


def auth_required(cfg: SOLLOLConfig) -> bool:
    """True if this gateway demands keys (see the module docstring for ``auth``)."""
    mode = cfg.auth.strip().lower()
    if mode in ("on", "true", "required"):
        return True
    if mode in ("off", "false", "disabled"):
        return False
    return not is_loopback(cfg.bind)


def is_loopback(bind: str) -> bool:
    host = bind.strip().strip("[]")
    if host in ("localhost", ""):
        return host == "localhost"
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def auth_headers(cfg: SOLLOLConfig) -> dict[str, str]:
    """Headers for SOLLOL's own calls to a gateway (CLI, launcher): its admin key, if any."""
    return {"Authorization": f"Bearer {cfg.admin_key}"} if cfg.admin_key else {}


def new_secret() -> str:
    """A fresh API key (shown once; only its digest is kept)."""
    return KEY_PREFIX + secrets.token_urlsafe(32)


def digest_of(secret: str) -> str:
    """SHA-256 hex of a presented key: what is stored and looked up."""
    return hashlib.sha256(secret.encode("utf-8", "surrogatepass")).hexdigest()


def load_keys_file(path: str) -> dict[str, ApiKey]:
    """Keys from a YAML keys file, by digest (see the module docstring for its format)."""
    try:
        data = yaml.safe_load(Path(path).read_text()) or {}
    except (OSError, yaml.YAMLError) as exc:
        raise ConfigError(f"cannot read keys file {path}: {exc}") from None
    entries = data.get("keys", []) if isinstance(data, dict) else data
    if not isinstance(entries, list):
        raise ConfigError(f"keys file {path}: expected a list under 'keys'")
    out: dict[str, ApiKey] = {}
    for raw in entries:
        if not isinstance(raw, dict) or not raw.get("name"):
            raise ConfigError(f"keys file {path}: every entry needs a name, got {raw!r}")
        entry = dict(raw)
        secret = entry.pop("key", None)
        digest = str(entry.pop("sha256", "") or (digest_of(str(secret)) if secret else ""))
        if len(digest) != 64:
            raise ConfigError(f"keys file {path}: key {raw['name']!r} needs sha256: or key:")
        try:
            key = ApiKey.from_mapping({**entry, "digest": digest.lower()}, source="file")
        except (KeyProblem, TypeError) as exc:
            raise ConfigError(f"keys file {path}: {exc}") from None
        out[key.digest] = key
    return out


@dataclass
class KeyStore:
    """Keys in Redis (plus a keys file's), looked up by the digest of what a client presents."""

    redis: Any  # a decoded client (sollol.state.connection.connect)
    cfg: SOLLOLConfig
    file_keys: dict[str, ApiKey] = field(default_factory=dict)
    _cache: dict[str, tuple[float, ApiKey | None]] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    @classmethod
    def for_config(cls, redis: Any, cfg: SOLLOLConfig) -> KeyStore:
        """The keys of Redis, of ``keys_file`` and ``admin_key`` (an admin named "admin")."""
        static = load_keys_file(cfg.keys_file) if cfg.keys_file else {}
        if cfg.admin_key:
            digest = digest_of(cfg.admin_key)
            static[digest] = ApiKey(name="admin", digest=digest, admin=True, source="env")
        return cls(redis, cfg, static)

    # --- lookup (the request path) --------------------------------------------------------------
    def lookup(self, secret: str, now: float | None = None) -> ApiKey | None:
        """The key record for a presented secret, or None if nobody has it (revoked included)."""
        digest = digest_of(secret)
        now = time.monotonic() if now is None else now
        with self._lock:
            hit = self._cache.get(digest)
        if hit is not None and now - hit[0] < CACHE_S:
            return hit[1]
        key = self._fetch(digest)
        with self._lock:
            if len(self._cache) > 10_000:
                self._cache.clear()  # bounded: guessed keys must not grow memory
            self._cache[digest] = (now, key)
        return key

    def _fetch(self, digest: str) -> ApiKey | None:
        if digest in self.file_keys:
            return self.file_keys[digest]
        name = self.redis.get(self.cfg.key("apikey", digest))
        if name is None:
            return None
        raw = self.redis.hget(self.cfg.key("apikeys"), name)
        if raw is None:
            return None
        key = ApiKey.from_mapping(json.loads(raw))
        # the index matched a digest; compare the stored one in constant time all the same
        return key if hmac.compare_digest(key.digest, digest) else None

    # --- management (CLI and admin API) ---------------------------------------------------------
    def create(self, name: str, **limits: Any) -> tuple[str, ApiKey]:
        """Create key ``name``; returns (the secret, shown once; the record)."""
        secret = new_secret()
        key = ApiKey.from_mapping(
            {"name": name, "digest": digest_of(secret), "created_at": time.time(), **limits}
        )
        if not self.redis.hsetnx(self.cfg.key("apikeys"), name, key.to_json()):
            existing = self.get(name)
            if existing is None or not existing.revoked_at:
                raise KeyProblem(f"a key named {name!r} exists; revoke it first")
            self.redis.hset(self.cfg.key("apikeys"), name, key.to_json())
        self.redis.set(self.cfg.key("apikey", key.digest), name)
        return secret, key

    def get(self, name: str) -> ApiKey | None:
        raw = self.redis.hget(self.cfg.key("apikeys"), name)
        return ApiKey.from_mapping(json.loads(raw)) if raw else None

    def list(self) -> list[ApiKey]:
        """Every key, Redis's and the keys file's, by name."""
        stored = [
            ApiKey.from_mapping(json.loads(v)) for v in self.redis.hvals(self.cfg.key("apikeys"))
        ]
        return sorted([*stored, *self.file_keys.values()], key=lambda k: k.name)

    def revoke(self, name: str) -> ApiKey:
        """Revoke ``name`` at once in Redis (gateways stop accepting it within CACHE_S)."""
        key = self.get(name)
        if key is None:
            if any(k.name == name for k in self.file_keys.values()):
                raise KeyProblem(f"key {name!r} comes from the keys file: remove it there")
            raise KeyProblem(f"no key named {name!r}")
        revoked = replace(key, revoked_at=key.revoked_at or time.time())
        pipe = self.redis.pipeline()
        pipe.hset(self.cfg.key("apikeys"), name, revoked.to_json())
        pipe.delete(self.cfg.key("apikey", key.digest))
        pipe.execute()
        return revoked
