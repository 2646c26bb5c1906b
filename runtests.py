#!/usr/bin/env python3
"""Run django-durabledict's test suite against real servers.

    python runtests.py [pytest arguments]

What it does, so that a fresh clone needs nothing else:

1. Installs the system packages the servers and tools come from (memcached,
   ZooKeeper, redis-sentinel, Chromium, the MariaDB headers) when it runs as root
   with apt-get; otherwise it prints the exact command for what is missing.
   ``DURABLEDICT_INSTALL_PACKAGES=0`` turns that off.
2. Unless it already runs in an environment with the test dependencies, it creates
   ``.venv`` (or refreshes it when pyproject.toml changed), installs the package and
   its ``test`` dependency group (pure-Python wheels: the MariaDB tests use PyMySQL),
   adds mysqlclient when its headers are there, and re-runs itself there.
3. Starts memcached and ZooKeeper on free loopback ports when their binaries exist,
   and Redis, PostgreSQL and MariaDB when they are not reachable already.
4. Runs pytest. Tests whose server is missing skip, and the summary names each
   missing server and how to install it; with DURABLEDICT_REQUIRE_SERVICES=1 (as in
   CI) a missing server fails the run instead.
5. Stops every server it started.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
import venv
from pathlib import Path

ROOT = Path(__file__).resolve().parent
# CI also runs the suite on the oldest and newest supported Django: each in a venv
# of its own (DURABLEDICT_VENV) with a Django requirement (DURABLEDICT_DJANGO).
VENV = ROOT / os.environ.get("DURABLEDICT_VENV", ".venv")
DJANGO_REQUIREMENT = os.environ.get("DURABLEDICT_DJANGO", "")
NEEDED_MODULES = ["django", "pytest_django", "redis", "django_redis", "kazoo"]
NEEDED_MODULES += ["pymemcache", "psycopg", "pymysql", "hypothesis", "pytest_timeout"]
NEEDED_MODULES += ["playwright", "celery", "sphinx", "furo", "myst_parser"]
NEEDED_MODULES += ["prometheus_client"]


def has_test_dependencies() -> bool:
    from importlib.util import find_spec

    return all(find_spec(module) is not None for module in NEEDED_MODULES)


def venv_python() -> Path:
    return VENV / "bin" / "python"


def ensure_venv() -> None:
    """Create or refresh .venv and re-run this script with its interpreter."""
    from tests import provision

    stamp = VENV / ".durabledict-installed"
    project = (ROOT / "pyproject.toml").read_bytes() + DJANGO_REQUIREMENT.encode()
    wanted = hashlib.sha256(project + provision.stamp_extra()).hexdigest()
    if not (stamp.exists() and stamp.read_text() == wanted):
        print(f"runtests.py: installing the test environment in {VENV} ...", flush=True)
        if not venv_python().exists():
            venv.create(VENV, with_pip=True)
        pip = [str(venv_python()), "-m", "pip", "install", "--quiet"]
        subprocess.run([*pip, "--upgrade", "pip"], check=True)
        django = [DJANGO_REQUIREMENT] if DJANGO_REQUIREMENT else []
        subprocess.run([*pip, "--group", "test", "-e", str(ROOT), *django], check=True)
        install_mysqlclient(pip)
        stamp.write_text(wanted)
    os.execv(venv_python(), [str(venv_python()), __file__, *sys.argv[1:]])


def install_mysqlclient(pip: list[str]) -> None:
    """Add the C driver for MariaDB when it can be built; PyMySQL covers the rest."""
    from tests import provision

    if not provision.mysqlclient_buildable():
        print("runtests.py: no MariaDB headers; the MariaDB tests use PyMySQL only")
        return
    if subprocess.run([*pip, "--group", "mysqlclient"]).returncode != 0:
        print("runtests.py: mysqlclient did not build; the MariaDB tests use PyMySQL")


def start_machine_service(name: str) -> None:
    """Start a machine-wide PostgreSQL or MariaDB the way Debian's packages do."""
    commands = {
        "postgresql": "pg_ctlcluster --skip-systemctl-redirect "
        "$(ls /etc/postgresql | tail -n1) main start",
        "mariadb": "start-stop-daemon --start --oknodo --background "
        "--exec /usr/sbin/mariadbd",
    }
    binary = {"postgresql": "pg_ctlcluster", "mariadb": "mariadbd"}[name]
    if shutil.which(binary) or Path(f"/usr/sbin/{binary}").exists():
        subprocess.run(commands[name], shell=True, check=False)


def start_servers(stack) -> None:
    from tests import servers

    variable = {name: var for name, (var, _default) in servers.SHARED.items()}
    if not os.environ.get(variable["memcached"]) and servers.have("memcached"):
        server = stack.enter_context(servers.start_memcached())
        os.environ[variable["memcached"]] = server.address
    if not os.environ.get(variable["zookeeper"]) and servers.zookeeper_installed():
        server = stack.enter_context(servers.start_zookeeper())
        os.environ[variable["zookeeper"]] = server.address
    if not servers.shared_available("redis") and servers.have("redis-server"):
        server = stack.enter_context(servers.start_redis())
        os.environ[variable["redis"]] = server.address
    for name in ("postgresql", "mariadb"):
        if not servers.shared_available(name):
            start_machine_service(name)
            servers.wait_until(lambda n=name: servers.shared_available(n), 30)


def main() -> int:
    os.chdir(ROOT)
    sys.path.insert(0, str(ROOT))
    from tests import provision

    if not os.environ.get("DURABLEDICT_PACKAGES_CHECKED"):
        provision.ensure_system_packages()
        os.environ["DURABLEDICT_PACKAGES_CHECKED"] = "1"  # not again after re-exec
    if not has_test_dependencies():
        ensure_venv()

    import contextlib

    import pytest

    with contextlib.ExitStack() as stack:
        start_servers(stack)
        code = pytest.main(sys.argv[1:])
    return 0 if code == pytest.ExitCode.OK else int(code)


if __name__ == "__main__":
    sys.exit(main())
