"""The router is sans-I/O: no network, files, environment, clock or global RNG — checked on the
source of the whole package (and of the modules it imports from the rest of SOLLOL) with ast.

The rule is an allowlist of imports plus a list of forbidden calls; the second half of this file
shows that the checker catches each kind of violation, so a clean result means something.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

import sollol.names
import sollol.router

PACKAGE = Path(sollol.router.__file__).parent
# the router's own modules, subpackages included, and what it imports from elsewhere in SOLLOL
SOURCES = [*sorted(PACKAGE.rglob("*.py")), Path(sollol.names.__file__)]
ALLOWED_SOLLOL = ("sollol.router", "sollol.names")
# pure standard-library modules the router may use (``random`` only for random.Random, below)
ALLOWED_STDLIB = {
    "__future__",
    "collections",
    "collections.abc",
    "dataclasses",
    "functools",
    "hashlib",
    "itertools",
    "math",
    "random",
    "re",
    "statistics",
    "types",
    "typing",
}
# random.Random (a generator passed in) is fine; the module-level functions share global state
GLOBAL_RANDOM = {
    "betavariate",
    "choice",
    "choices",
    "expovariate",
    "gauss",
    "getrandbits",
    "getstate",
    "lognormvariate",
    "normalvariate",
    "randbytes",
    "randint",
    "random",
    "randrange",
    "sample",
    "seed",
    "setstate",
    "shuffle",
    "triangular",
    "uniform",
    "vonmisesvariate",
    "weibullvariate",
}
FORBIDDEN_CALLS = {"open", "print", "input", "breakpoint", "exec", "eval", "__import__"}


def _allowed_module(name: str) -> bool:
    if name in ALLOWED_STDLIB:
        return True
    return any(name == m or name.startswith(m + ".") for m in ALLOWED_SOLLOL)


def violations(source: str, filename: str = "<snippet>") -> list[str]:
    """Every breach of the sans-I/O rule in ``source``, one line each ("file:line what")."""
    found: list[str] = []
    tree = ast.parse(source)
    random_aliases = set()  # names bound to the random module ("import random as r")
    for node in ast.walk(tree):
        where = f"{filename}:{getattr(node, 'lineno', 0)}"
        if isinstance(node, ast.Import):
            for a in node.names:
                if not _allowed_module(a.name):
                    found.append(f"{where} imports {a.name}")
                if a.name == "random":
                    random_aliases.add(a.asname or "random")
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            if not _allowed_module(node.module):
                found.append(f"{where} imports from {node.module}")
            if node.module == "random":
                found += [
                    f"{where} imports random.{a.name} (global RNG)"
                    for a in node.names
                    if a.name in GLOBAL_RANDOM
                ]
        elif (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Name)
            and node.func.id in FORBIDDEN_CALLS
        ):
            found.append(f"{where} calls {node.func.id}()")
    for node in ast.walk(tree):
        if (
            isinstance(node, ast.Attribute)
            and isinstance(node.value, ast.Name)
            and node.value.id in random_aliases
            and node.attr in GLOBAL_RANDOM
        ):
            found.append(f"{filename}:{node.lineno} uses random.{node.attr} (global RNG)")
    return found


def test_the_check_covers_every_module_of_the_router() -> None:
    names = {p.name for p in SOURCES}
    assert {"__init__.py", "strategies.py", "scorers.py", "pickers.py", "estimate.py"} <= names
    assert len(SOURCES) >= 12


@pytest.mark.parametrize("path", SOURCES, ids=lambda p: p.name)
def test_router_module_is_sans_io(path: Path) -> None:
    assert violations(path.read_text(encoding="utf-8"), path.name) == []


@pytest.mark.parametrize(
    ("snippet", "expected"),
    [
        ("import socket", "imports socket"),  # network
        ("import requests", "imports requests"),
        ("from flask import g", "imports from flask"),
        ("import celery.app", "imports celery.app"),
        ("import redis as r", "imports redis"),
        ("from sollol.state import snapshot", "imports from sollol.state"),  # I/O layers
        ("import sollol.workers.tasks", "imports sollol.workers.tasks"),
        ("from sollol import config", "imports from sollol"),  # the one module reading env
        ("import os", "imports os"),  # environment, files
        ("from os import environ", "imports from os"),
        ("import pathlib", "imports pathlib"),
        ("import time", "imports time"),  # clock
        ("from time import monotonic", "imports from time"),
        ("from datetime import datetime", "imports from datetime"),
        ("from random import shuffle", "imports random.shuffle (global RNG)"),  # global RNG
        ("import random\nrandom.choice([1, 2])", "uses random.choice (global RNG)"),
        ("import random as rnd\nrnd.seed(1)", "uses random.seed (global RNG)"),
        ("open('hosts.txt')", "calls open()"),  # files and the terminal
        ("print('routed')", "calls print()"),
        ("__import__('os')", "calls __import__()"),
    ],
)
def test_the_check_catches_each_kind_of_violation(snippet: str, expected: str) -> None:
    found = violations(snippet)
    assert len(found) >= 1 and any(expected in v for v in found), found


@pytest.mark.parametrize(
    "snippet",
    [
        "import random\nrng = random.Random(3)\nrng.choice([1, 2])",  # a generator passed in
        "from random import Random\nRandom(1).random()",
        "from sollol.router.model import HostState",
        "import math\nmath.ceil(2.5)",
        "from .model import HostState",  # relative imports stay inside the package
    ],
)
def test_the_check_accepts_what_the_router_may_do(snippet: str) -> None:
    assert violations(snippet) == []


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
