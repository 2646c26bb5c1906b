"""The environment a run measured: machine, interpreter, packages, servers."""

from __future__ import annotations

import os
import platform
import socket
import subprocess
import time
from importlib import metadata
from pathlib import Path
from typing import Any

PACKAGES = [
    "Django",
    "django-constance",
    "django-waffle",
    "durabledict",
    "redis",
    "django-redis",
    "kazoo",
    "pymemcache",
    "psycopg",
    "matplotlib",
]
ROOT = Path(__file__).resolve().parent.parent


def _cpu() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def _version(package: str) -> str:
    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return "not installed"


def _ask(address: str, command: bytes, until: bytes) -> str:
    host, port = address.rsplit(":", 1)
    with socket.create_connection((host, int(port)), timeout=2) as sock:
        sock.sendall(command)
        data = b""
        while until not in data:
            chunk = sock.recv(4096)
            if not chunk:
                break
            data += chunk
    return data.decode(errors="replace")


def _servers(context: dict[str, Any]) -> dict[str, str]:
    found: dict[str, str] = {}
    probes = {
        "memcached": (b"version\r\n", b"\r\n", lambda s: s.split()[1]),
        "zookeeper": (b"srvr", b"Mode", lambda s: s.splitlines()[0].split(":")[1]),
        "redis": (b"INFO server\r\n", b"redis_mode", _redis_version),
    }
    for name, (command, until, parse) in probes.items():
        if context.get(name):
            try:
                found[name] = parse(_ask(context[name], command, until)).strip()
            except (OSError, IndexError):
                found[name] = "unknown"
    if context.get("postgresql"):
        found["postgresql"] = _postgresql_version(context["postgresql"])
    return found


def _redis_version(text: str) -> str:
    for line in text.splitlines():
        if line.startswith("redis_version:"):
            return line.split(":", 1)[1]
    return "unknown"


def _postgresql_version(info: dict[str, Any]) -> str:
    import psycopg

    with psycopg.connect(
        host=info["host"], port=info["port"], user=info["user"], dbname=info["name"]
    ) as conn:
        return conn.execute("SHOW server_version").fetchone()[0]


def _commit() -> str:
    try:
        result = subprocess.run(
            ["git", "-C", str(ROOT), "describe", "--always", "--dirty"],
            capture_output=True,
            text=True,
            check=True,
        )
        return result.stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def describe(context: dict[str, Any]) -> dict[str, Any]:
    """Everything a reader needs to compare this run with another."""
    from django_durabledict import __version__

    return {
        "date": time.strftime("%Y-%m-%d %H:%M:%S %Z"),
        "cpu": _cpu(),
        "cores": os.cpu_count(),
        "load_average": [round(x, 2) for x in os.getloadavg()],
        "platform": platform.platform(),
        "python": platform.python_version(),
        "django_durabledict": f"{__version__} ({_commit()})",
        "packages": {package: _version(package) for package in PACKAGES},
        "servers": _servers(context),
    }
