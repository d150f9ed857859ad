"""The linters are part of the test suite: ruff over the code base, strict mypy over the package
(pyproject's [tool.mypy] lists what is still excluded). A type error has already hidden a real bug once."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def _tool(name: str) -> str:
    path = Path(sys.executable).parent / name
    if path.exists():
        return str(path)
    found = shutil.which(name)
    if not found:
        pytest.fail(f"{name} is not installed (make install)")
    return found


def test_ruff_is_clean():
    out = subprocess.run(
        [_tool("ruff"), "check", "sollol", "tests", "bench", "celeryconfig.py"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    assert out.returncode == 0, out.stdout + out.stderr


def test_ruff_format_is_applied():
    out = subprocess.run(
        [_tool("ruff"), "format", "--check", "."],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    assert out.returncode == 0, out.stdout + out.stderr


def test_strict_mypy_is_clean():
    out = subprocess.run([_tool("mypy")], cwd=ROOT, capture_output=True, text=True, check=False)
    assert out.returncode == 0, out.stdout + out.stderr


# Notes that were never part of the repository: a reference to them leaves the reader stranded.
# What a reader needs is in docs/ (cited as docs/<name>.md) or in the module docstrings.
DANGLING = re.compile(
    r"(?<![\w.-])shared/"  # the design notes' folder
    r"|\b(?:DESIGN|STYLE)\.md\b"
    r"|celery-redis-facts"
    r"|(?<!docs/)\b(?:ollama-api|celery-on-redis)\.md\b"  # these live in docs/: say so
)


def _tracked_files() -> list[Path]:
    """The repository's files: git's list in a checkout, else every file outside caches."""
    out = subprocess.run(
        ["git", "ls-files", "-z"], cwd=ROOT, capture_output=True, text=True, check=False
    )
    if out.returncode == 0 and out.stdout:
        return [ROOT / name for name in out.stdout.split("\0") if name]
    skip = {".git", ".venv", ".mypy_cache", ".ruff_cache", ".pytest_cache", "__pycache__"}
    return [p for p in ROOT.rglob("*") if p.is_file() and not skip & set(p.parts)]


def test_no_file_points_at_notes_outside_the_repository():
    this = Path(__file__).resolve()
    found = []
    for path in _tracked_files():
        if path.resolve() == this or not path.is_file():
            continue
        try:
            text = path.read_text(encoding="utf-8")
        except (UnicodeDecodeError, OSError):
            continue  # binary (plots) or unreadable: nothing a reader follows
        for n, line in enumerate(text.splitlines(), 1):
            if DANGLING.search(line):
                found.append(f"{path.relative_to(ROOT)}:{n}: {line.strip()[:100]}")
    assert not found, "references to notes that are not in the repository:\n" + "\n".join(found)


def test_the_dangling_reference_check_recognises_each_kind():
    assert DANGLING.search("see .." + "/sha" + "red/docs/x.md")  # built so as not to be one
    assert DANGLING.search("(DESIGN" + ".md contract)")
    assert DANGLING.search("STYLE" + ".md habit 1")
    assert DANGLING.search("celery-redis" + "-facts 1.7")
    assert DANGLING.search("as Ollama does (ollama-api" + ".md §4)")
    assert not DANGLING.search("as Ollama does (docs/ollama-api" + ".md §4)")
    assert not DANGLING.search("docs/celery-on-redis" + ".md §1.6")
    assert not DANGLING.search("multiprocess_shared_dir/x and shared_memory/")


CITATION = re.compile(r"docs/([\w-]+\.md)((?:,? §[\d.]*\d)+)")


def test_every_cited_docs_section_exists():
    """A comment citing ``docs/<page>.md §3.4`` names a numbered heading that page has."""
    missing = []
    for path in _tracked_files():
        if path.suffix not in (".py", ".md", ".yaml", ".yml") or not path.is_file():
            continue
        for page, sections in CITATION.findall(path.read_text(encoding="utf-8")):
            doc = ROOT / "docs" / page
            headings = doc.read_text(encoding="utf-8") if doc.is_file() else ""
            for number in re.findall(r"§([\d.]*\d)", sections):
                if not re.search(rf"^#+ {re.escape(number)}[. ]", headings, re.MULTILINE):
                    missing.append(f"{path.relative_to(ROOT)}: docs/{page} §{number}")
    assert not missing, missing
