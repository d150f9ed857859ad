"""Every module of the package imports on its own, first, in an interpreter that holds no other
SOLLOL module: no import cycle, and no Celery app built as a side effect of importing (except
by the two entry points that exist to build one: ``celery -A sollol`` and the WSGI app).

One fresh interpreter imports nothing of SOLLOL and forks a child per module (each child starts
from that clean state, so every import is isolated and the whole check takes seconds).
"""

from __future__ import annotations

import ast
import json
import pkgutil
import subprocess
import sys
from pathlib import Path

import sollol
import sollol.launcher

# __main__ modules run their program when imported; they are entry points, not library modules
ENTRY_POINTS = {"__main__"}
# the modules whose job is to build an app when imported: `celery -A sollol`, gunicorn's target
BUILDS_APPS = ("sollol.celery", "sollol.api.wsgi")

# Third-party libraries are imported once before forking (speed); none of them imports SOLLOL.
PRELOAD = ("celery", "flask", "kombu", "redis", "marshmallow", "yaml", "httpx", "requests")

CHECK = r"""
import importlib, json, os, sys, traceback
for lib in PRELOAD:
    try:
        importlib.import_module(lib)
    except ImportError:
        pass
assert not [m for m in sys.modules if m == "sollol" or m.startswith("sollol.")]
failures = {}
for name in sys.argv[1:]:
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.close(read)
        try:
            __import__(name)
            code, text = 0, ""
            import celery._state
            if name not in BUILDS_APPS and list(celery._state._apps):
                code, text = 1, "builds a Celery app when imported"
        except BaseException:
            code, text = 1, traceback.format_exc(limit=-3)
        os.write(write, text.encode())
        os._exit(code)
    os.close(write)
    chunks = []
    while chunk := os.read(read, 65536):
        chunks.append(chunk)
    os.close(read)
    _, status = os.waitpid(pid, 0)
    if status != 0:
        failures[name] = b"".join(chunks).decode() or f"exit status {status}"
print(json.dumps(failures))
"""


def _modules() -> list[str]:
    names = [
        info.name
        for info in pkgutil.walk_packages(sollol.__path__, prefix="sollol.")
        if info.name.rsplit(".", 1)[-1] not in ENTRY_POINTS
    ]
    return ["sollol", *sorted(names)]


def test_the_package_has_the_modules_this_test_walks():
    names = _modules()
    for expected in ("sollol.celery", "sollol.workers.tasks", "sollol.workers.beat"):
        assert expected in names


def test_every_module_imports_first_in_a_fresh_interpreter():
    script = f"PRELOAD = {PRELOAD!r}\nBUILDS_APPS = {BUILDS_APPS!r}\n{CHECK}"
    out = subprocess.run(
        [sys.executable, "-c", script, *_modules()],
        capture_output=True,
        text=True,
        timeout=240,
        check=True,
    )
    failures = json.loads(out.stdout.strip().splitlines()[-1])
    assert failures == {}, "\n".join(f"{name}:\n{tb}" for name, tb in failures.items())


def test_the_launcher_does_not_import_the_cli():
    """The CLI parses arguments and calls the launcher, never the other way round."""
    tree = ast.parse(Path(sollol.launcher.__file__).read_text())
    imported = {n.module for n in ast.walk(tree) if isinstance(n, ast.ImportFrom)}
    imported |= {a.name for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names}
    assert not {m for m in imported if m and (m == "sollol.cli" or m.startswith("sollol.cli."))}
