"""The system packages the test suite needs, and installing the missing ones.

``runtests.py`` calls :func:`ensure_system_packages` before anything else, so a
fresh clone on a fresh machine needs no set-up by hand. On Debian or Ubuntu as
root it runs ``apt-get install`` for what is missing; anywhere else it prints the
exact command and goes on (the tests of a missing server then skip, or fail with
``DURABLEDICT_REQUIRE_SERVICES=1``).

Standard library only: it runs before the test virtualenv exists.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Callable

from tests import servers


def _mariadb_headers() -> bool:
    # mysqlclient builds against these; without them the suite uses PyMySQL.
    if not shutil.which("pkg-config"):
        return False
    probes = (["pkg-config", "--exists", name] for name in ("libmariadb", "mariadb"))
    return any(subprocess.run(probe).returncode == 0 for probe in probes)


#: What each Debian package gives the suite, and how to tell it is there.
PACKAGES: dict[str, tuple[str, Callable[[], bool]]] = {
    "memcached": ("memcached servers", lambda: servers.have("memcached")),
    "zookeeper": ("ZooKeeper servers", servers.zookeeper_installed),
    "redis-server": ("private Redis servers", lambda: servers.have("redis-server")),
    "redis-sentinel": ("the failover tests", lambda: servers.have("redis-sentinel")),
    "chromium": ("the browser tests", lambda: servers.have("chromium")),
    # Both, for the mysqlclient driver (the MariaDB tests run on PyMySQL without).
    "pkg-config": ("the mysqlclient driver", lambda: servers.have("pkg-config")),
    "libmariadb-dev": ("the mysqlclient driver", _mariadb_headers),
}


def missing_packages() -> list[str]:
    return [name for name, (_why, present) in PACKAGES.items() if not present()]


def can_install() -> bool:
    """Root on a system with apt-get, and not told to keep hands off."""
    if os.environ.get("DURABLEDICT_INSTALL_PACKAGES", "1") == "0":
        return False
    return os.geteuid() == 0 and shutil.which("apt-get") is not None


def apt_install(packages: list[str]) -> bool:
    """``apt-get install`` *packages* (with their recommends, as a desktop install
    would: ZooKeeper's Java comes that way). Return whether it succeeded."""
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    quiet = {"stdout": subprocess.DEVNULL, "env": env}
    if subprocess.run(["apt-get", "update", "-qq"], **quiet).returncode != 0:
        return False
    command = ["apt-get", "install", "-y", "-qq", *packages]
    return subprocess.run(command, **quiet).returncode == 0


def ensure_system_packages() -> list[str]:
    """Install what is missing when allowed; return what is still missing."""
    missing = missing_packages()
    if not missing:
        return []
    command = f"apt-get install {' '.join(missing)}"
    if can_install():
        print(f"runtests.py: installing system packages: {command}", flush=True)
        if not apt_install(missing):
            print("runtests.py: apt-get failed; see its output above", flush=True)
        missing = missing_packages()
    if missing:
        needs = sorted({PACKAGES[name][0] for name in missing})
        print(
            f"runtests.py: not installed: {' '.join(missing)} "
            f"(for {', '.join(needs)}). Install them with: sudo {command}",
            flush=True,
        )
    return missing


def mysqlclient_buildable() -> bool:
    """Whether ``pip install mysqlclient`` can build here (headers and a compiler)."""
    return _mariadb_headers() and shutil.which("cc") is not None


def stamp_extra() -> bytes:
    # The test environment is reinstalled when this changes, so mysqlclient is
    # added once its headers appear.
    return b"mysqlclient" if mysqlclient_buildable() else b""
