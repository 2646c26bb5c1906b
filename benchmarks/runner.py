"""Runs every selected system in a fresh worker process and gathers results."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from importlib.util import find_spec
from pathlib import Path
from typing import Any

from benchmarks import machine, services
from benchmarks.systems import SYSTEMS, by_name
from benchmarks.worker import CONTEXT_VARIABLE

ROOT = Path(__file__).resolve().parent.parent

FULL = {
    "sizes": [100, 1000, 10000],
    "large": 10000,
    "rounds": 21,
    "round_seconds": 0.04,
    "warmup_seconds": 0.2,
    "count_requests": 5,
    "change_rounds": 11,
    "timeout": 10.0,
    "worker_timeout": 900,
}
SMOKE = {
    "sizes": [100],
    "large": 1000,
    "rounds": 1,
    "round_seconds": 0.002,
    "warmup_seconds": 0.0,
    "count_requests": 2,
    "change_rounds": 1,
    "timeout": 5.0,
    "worker_timeout": 120,
}


def _importable(module: str) -> bool:
    try:
        return find_spec(module) is not None
    except ImportError:  # a parent package is missing
        return False


def why_not(system, available: set[str]) -> str | None:
    """Why *system* cannot run here, or None."""
    missing = [m for m in system.modules if not _importable(m)]
    if missing:
        return f"cannot import {', '.join(missing)}"
    servers = [s for s in system.services if s not in available]
    if servers:
        return f"server(s) {', '.join(servers)} not available"
    return None


def _environment(context: dict[str, Any]) -> dict[str, str]:
    env = os.environ.copy()
    env[CONTEXT_VARIABLE] = json.dumps(context)
    paths = [str(ROOT), env.get("PYTHONPATH")]
    env["PYTHONPATH"] = os.pathsep.join(path for path in paths if path)
    return env


def _worker(argv: list[str], env: dict[str, str], timeout: float) -> None:
    command = [sys.executable, "-m", "benchmarks.worker", *argv]
    subprocess.run(command, env=env, cwd=ROOT, check=True, timeout=timeout)


def _prepare(context: dict[str, Any]) -> dict[str, str]:
    """Create the tables in the run's databases; the workers' environment."""
    env = _environment(context)
    for database in ("sqlite", "postgresql"):
        if database == "sqlite" or context["postgresql"]:
            _worker(["migrate", database], env, 300)
    return env


def profile(name: str, size: int, out: Path) -> Path:
    """Write pyinstrument profiles of system *name* to *out*; return the file."""
    system = by_name(name)
    with services.started(set(system.services)) as context:
        context["options"] = SMOKE
        env = _prepare(context)
        reason = why_not(system, services.available(context))
        if reason:
            raise SystemExit(f"{name} cannot run here: {reason}")
        out.mkdir(parents=True, exist_ok=True)
        path = out / f"profile-{name}-{size}.txt"
        _worker(["profile", name, str(size), str(path)], env, 600)
    return path


def measure(system, env: dict[str, str], options: dict[str, Any]) -> dict[str, Any]:
    with tempfile.NamedTemporaryFile(suffix=".json", delete=False) as out:
        path = out.name
    started = time.monotonic()
    try:
        _worker(["run", system.name, path], env, options["worker_timeout"])
        result = json.loads(Path(path).read_text())
    except (subprocess.SubprocessError, json.JSONDecodeError) as exc:
        result = {"error": f"the worker failed: {exc}"}
    finally:
        os.unlink(path)
    result["seconds"] = round(time.monotonic() - started, 1)
    return result


def run(
    names: list[str] | None,
    smoke: bool,
    log=print,
    change_rounds: int | None = None,
    change_size: int | None = None,
) -> dict[str, Any]:
    """Measure the systems named (all when None); return every result.
    *change_rounds* and *change_size* override the number of propagation rounds
    and the store size they run on (default: the large store)."""
    options = dict(SMOKE if smoke else FULL)
    if change_rounds:
        options["change_rounds"] = change_rounds
    if change_size:
        options["change_size"] = change_size
    load_at_start = [round(x, 2) for x in os.getloadavg()]
    chosen = [s for s in SYSTEMS if names is None or s.name in names]
    wanted = {service for system in chosen for service in system.services}
    with services.started(wanted) as context:
        context["options"] = options
        env = _prepare(context)
        available = services.available(context)
        results = {}
        for system in chosen:
            reason = why_not(system, available)
            if reason:
                log(f"  {system.name}: skipped ({reason})")
                results[system.name] = {"skipped": reason}
                continue
            log(f"  {system.name} ...")
            results[system.name] = measure(system, env, options)
            if "error" in results[system.name]:
                log(results[system.name]["error"])
        environment = machine.describe(context)
        environment["load_average_start"] = load_at_start
        return {
            "environment": environment,
            "options": options,
            "results": results,
            "systems": chosen,
        }
