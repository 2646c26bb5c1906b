"""The benchmark's own environment: benchmarks/.venv with requirements.txt.

``python -m benchmarks`` re-runs itself there, creating or refreshing it first
when requirements.txt changed. ``--here`` skips this and uses the interpreter it
was started with (systems whose packages are missing are then skipped).
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import venv
from pathlib import Path

HERE = Path(__file__).resolve().parent
VENV = Path(os.environ.get("DURABLEDICT_BENCH_VENV", HERE / ".venv"))
REQUIREMENTS = HERE / "requirements.txt"


def python() -> Path:
    return VENV / "bin" / "python"


def inside() -> bool:
    return Path(sys.prefix).resolve() == VENV.resolve()


def ensure() -> None:
    """Install the environment if needed and re-run this command inside it."""
    stamp = VENV / ".requirements-sha256"
    wanted = hashlib.sha256(REQUIREMENTS.read_bytes()).hexdigest()
    if not (stamp.exists() and stamp.read_text() == wanted):
        print(f"benchmarks: installing the benchmark environment in {VENV} ...")
        if not python().exists():
            venv.create(VENV, with_pip=True)
        pip = [str(python()), "-m", "pip", "install", "--quiet"]
        subprocess.run([*pip, "--upgrade", "pip"], check=True)
        subprocess.run([*pip, "-r", str(REQUIREMENTS)], check=True)
        stamp.write_text(wanted)
    if not inside():
        argv = [str(python()), "-m", "benchmarks", *sys.argv[1:]]
        os.execv(argv[0], argv)
