"""The Ollama servers ``sollol up`` runs a worker for: hosts files and host lists.

One host per line (``#`` starts a comment)::

    gpu-a http://10.0.0.5:11434 slots=4 tags=gpu vram_mb=24576 max_loaded_models=3
    10.0.0.6:11434                      # the original SOLLOL's form: the name is derived
    box.local slots=1 tags=cpu          # port 11434 when none is given

The same syntax works as a comma-separated list (``--hosts "a:11434,b:11434"``,
``SOLLOLConfig(hosts=[...])``, ``SOLLOL_HOSTS``). ``slots`` is the worker's concurrency and
should equal the box's ``OLLAMA_NUM_PARALLEL``.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, replace
from pathlib import Path

from sollol.names import InvalidHostName, validate_host_name

__all__ = ["HostSpec", "parse_host_line", "parse_hosts", "parse_hosts_file"]

_OPTIONS = {"slots": int, "vram_mb": int, "max_loaded_models": int, "tags": str}


@dataclass(frozen=True)
class HostSpec:
    """A host the stack runs a worker for."""

    name: str
    url: str
    slots: int = 4
    vram_mb: int = 0
    max_loaded_models: int = 3
    tags: tuple[str, ...] = ()


def _host_name_from(addr: str) -> str:
    name = re.sub(r"[^a-z0-9-]+", "-", addr.lower()).strip("-")
    return name or "host"


def _url_of(addr: str) -> str:
    url = addr if "://" in addr else f"http://{addr}"
    if not re.match(r"^https?://[^/]+:\d+", url):
        url = url.rstrip("/") + ":11434"
    return url


def parse_host_line(line: str, slots: int = 4) -> HostSpec:
    """One ``[name] address [key=value ...]`` entry; raises ValueError saying what is wrong."""
    words = line.split()
    options = [w for w in words if "=" in w]
    plain = [w for w in words if "=" not in w]
    if not 1 <= len(plain) <= 2:
        raise ValueError(f"expected '[name] host:port [slots=N] [tags=a,b]', got {line!r}")
    addr = plain[-1]
    name = plain[0] if len(plain) == 2 else _host_name_from(addr.split("://")[-1])
    try:
        validate_host_name(name)
    except InvalidHostName as exc:
        raise ValueError(str(exc)) from None
    spec = HostSpec(name=name, url=_url_of(addr), slots=slots)
    for option in options:
        key, _, raw = option.partition("=")
        if key not in _OPTIONS:
            raise ValueError(f"unknown option {key!r} (known: {', '.join(_OPTIONS)})")
        if key == "tags":
            spec = replace(spec, tags=tuple(t for t in raw.split(",") if t))
            continue
        if not raw.isdigit():
            raise ValueError(f"{key} must be a whole number, got {raw!r}")
        spec = replace(spec, **{key: int(raw)})  # type: ignore[arg-type]  # key is an int field
    if spec.slots < 1:
        raise ValueError(f"slots must be >= 1, got {spec.slots}")
    return spec


def _checked(hosts: list[HostSpec], where: str) -> list[HostSpec]:
    if not hosts:
        raise ValueError(f"{where}: no hosts listed")
    names = [h.name for h in hosts]
    if len(set(names)) != len(names):
        raise ValueError(f"{where}: duplicate host names in {names}")
    return hosts


def parse_hosts(entries: Iterable[str], slots: int = 4, where: str = "hosts") -> list[HostSpec]:
    """A list of host entries (as in ``SOLLOLConfig.hosts``) → HostSpecs."""
    hosts = []
    for entry in entries:
        try:
            hosts.append(parse_host_line(entry, slots))
        except ValueError as exc:
            raise ValueError(f"{where}: {exc}") from None
    return _checked(hosts, where)


def parse_hosts_file(path: str | Path, slots: int = 4) -> list[HostSpec]:
    """A hosts file (module docstring) → HostSpecs; errors name the file and line."""
    hosts: list[HostSpec] = []
    for lineno, raw in enumerate(Path(path).read_text(encoding="utf-8").splitlines(), 1):
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        try:
            hosts.append(parse_host_line(line, slots))
        except ValueError as exc:
            raise ValueError(f"{path}:{lineno}: {exc}") from None
    return _checked(hosts, str(path))
