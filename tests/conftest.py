"""Shared test machinery: the ``services`` marker and the missing-server report.

Mark a test (or module, with ``pytestmark``) with the real servers it needs::

    pytestmark = pytest.mark.services("redis")

Names: the shared servers of tests/servers.py (``postgresql``, ``mariadb``,
``redis``, ``memcached``, ``zookeeper``), a binary a test starts privately
(``redis-server``, ``memcached-server``, ``zookeeper-server``, ``redis-sentinel``,
``chromium``), or ``mysqlclient``, the C driver for MariaDB. A missing one skips the
test, and the end of the run lists every missing server loudly; with
DURABLEDICT_REQUIRE_SERVICES=1 it fails the test instead.
"""

import functools
import os

import pytest

from tests import servers

REQUIRE_SERVICES = os.environ.get("DURABLEDICT_REQUIRE_SERVICES") == "1"

_PRIVATE = {
    "redis-server": lambda: servers.have("redis-server"),
    "memcached-server": lambda: servers.have("memcached"),
    "zookeeper-server": servers.zookeeper_installed,
    "redis-sentinel": lambda: servers.have("redis-sentinel"),
    "chromium": lambda: servers.have("chromium"),
    "mysqlclient": lambda: _distribution_installed("mysqlclient"),
}


def _distribution_installed(name: str) -> bool:
    from importlib import metadata

    try:
        metadata.version(name)
    except metadata.PackageNotFoundError:
        return False
    return True


_missing: dict[str, int] = {}


@functools.cache
def service_available(name: str) -> bool:
    if name in _PRIVATE:
        return _PRIVATE[name]()
    return servers.shared_available(name)


def pytest_runtest_setup(item):
    for mark in item.iter_markers("services"):
        for name in mark.args:
            if service_available(name):
                continue
            _missing[name] = _missing.get(name, 0) + 1
            hint = servers.INSTALL_HINTS.get(name.removesuffix("-server"), "")
            message = f"server {name!r} is not available ({hint})"
            if REQUIRE_SERVICES:
                pytest.fail(f"{message}; DURABLEDICT_REQUIRE_SERVICES=1")
            pytest.skip(message)


def pytest_terminal_summary(terminalreporter):
    if not _missing:
        return
    terminalreporter.section("MISSING SERVERS", sep="!", red=True, bold=True)
    for name, count in sorted(_missing.items()):
        hint = servers.INSTALL_HINTS.get(name.removesuffix("-server"), "")
        terminalreporter.line(f"{name}: {count} tests did not run. Install: {hint}")
    terminalreporter.line(
        "runtests.py starts memcached, ZooKeeper and Redis itself once installed."
    )
