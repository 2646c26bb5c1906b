"""Lint and format stay clean: ruff is configured in pyproject.toml."""

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def ruff(*args):
    executable = shutil.which("ruff", path=str(Path(sys.executable).parent))
    executable = executable or shutil.which("ruff")
    if executable is None:
        pytest.fail("ruff is not installed: it is in the test dependency group")
    return subprocess.run(
        [executable, *args], cwd=ROOT, capture_output=True, text=True, check=False
    )


def test_ruff_check_is_clean():
    result = ruff("check", ".")
    assert result.returncode == 0, result.stdout + result.stderr


def test_ruff_format_is_clean():
    result = ruff("format", "--check", ".")
    assert result.returncode == 0, result.stdout + result.stderr
