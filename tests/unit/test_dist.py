"""`make dist` builds the wheel a GPU box installs: the package with its web assets, nothing else."""

from __future__ import annotations

import re
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def test_makefile_dist_builds_a_local_wheel_not_an_index_download():
    makefile = (ROOT / "Makefile").read_text()
    recipe = makefile.split("\ndist:", 1)[1].split("\n\n", 1)[0]
    assert "pip wheel" in recipe and "--no-deps" in recipe and " ." in recipe


@pytest.mark.slow
def test_the_wheel_carries_the_dashboard_the_api_description_and_no_tests(tmp_path):
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "-q",
            "--no-deps",
            "--wheel-dir",
            str(tmp_path),
            str(ROOT),
        ],
        check=True,
        timeout=240,
    )
    (wheel,) = tmp_path.glob("sollol-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    assert {
        "sollol/api/static/dashboard.html",
        "sollol/api/openapi.yaml",
        "sollol/py.typed",
    } <= names
    assert "sollol/celery.py" in names  # `celery -A sollol worker` works from the wheel
    assert not any(re.match(r"(tests|bench|examples)/", n) for n in names)
    metadata = next(n for n in names if n.endswith("/METADATA"))
    assert "Requires-Dist: celery" in zipfile.ZipFile(wheel).read(metadata).decode()
