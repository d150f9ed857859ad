"""The router is sans-I/O (STYLE.md habit 1), enforced on its source with ast."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

import sollol.router

PACKAGE = Path(sollol.router.__file__).parent
SOURCES = sorted(PACKAGE.glob("*.py"))
FORBIDDEN_MODULES = {
    "flask",
    "celery",
    "kombu",
    "redis",
    "requests",
    "httpx",
    "aiohttp",
    "socket",
    "os",
    "time",
    "datetime",
    "subprocess",
    "threading",
    "asyncio",
    "logging",
    "sollol.api",
    "sollol.workers",
    "sollol.state",
    "sollol.sim",
    "sollol.config",
}
# random.Random (a generator passed in) is fine; the module-level functions share global state
GLOBAL_RANDOM = {
    "random",
    "randint",
    "randrange",
    "choice",
    "choices",
    "shuffle",
    "sample",
    "uniform",
    "gauss",
    "seed",
    "getrandbits",
    "expovariate",
    "lognormvariate",
}


def _imports(tree: ast.AST) -> list[str]:
    names = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names += [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.append(node.module)
            if node.module == "random":
                names += [f"random.{a.name}" for a in node.names]
    return names


@pytest.mark.parametrize("path", SOURCES, ids=lambda p: p.name)
def test_router_imports_no_io_clock_or_environment(path: Path) -> None:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    for name in _imports(tree):
        root = name.split(".")[0]
        assert root not in FORBIDDEN_MODULES and not any(
            name == m or name.startswith(m + ".") for m in FORBIDDEN_MODULES
        ), f"{path.name} imports {name}"
        assert name not in {f"random.{f}" for f in GLOBAL_RANDOM}, f"{path.name}: {name}"


@pytest.mark.parametrize("path", SOURCES, ids=lambda p: p.name)
def test_router_never_calls_the_global_rng_or_open(path: Path) -> None:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name):
            if node.value.id == "random":
                assert node.attr not in GLOBAL_RANDOM, (
                    f"{path.name}:{node.lineno} random.{node.attr}"
                )
            assert (node.value.id, node.attr) != ("os", "environ"), f"{path.name}:{node.lineno}"
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name):
            assert node.func.id not in {"open", "print", "input"}, (
                f"{path.name}:{node.lineno} calls {node.func.id}()"
            )


def test_the_rule_catches_offenders() -> None:
    bad = ast.parse("import time\nfrom os import environ\nimport random\nx = random.choice([1])")
    assert {"time", "os"} <= set(_imports(bad))
    calls = [n for n in ast.walk(bad) if isinstance(n, ast.Attribute) and n.attr == "choice"]
    assert calls


def test_public_api_is_exported() -> None:
    for name in (
        "analyse_request",
        "Router",
        "STRATEGIES",
        "NoHostAvailable",
        "RoutingError",
        "TimingSample",
        "update_stats",
        "update_output_tokens",
        "predict_duration_s",
        "FleetSnapshot",
        "HostState",
        "ModelStats",
        "RequestProfile",
        "Decision",
    ):
        assert name in sollol.router.__all__
        assert hasattr(sollol.router, name)
