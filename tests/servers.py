"""Real servers for the tests.

Two kinds:

* *shared* servers the whole run talks to. PostgreSQL, MariaDB and Redis are the
  machine's own (or started by ``runtests.py`` when not reachable); memcached and
  ZooKeeper are started by ``runtests.py``. Their addresses reach the tests through
  ``DURABLEDICT_*`` environment variables (see :func:`address`).
* *private* servers a test starts on a free loopback port so it can kill, pause,
  flush or restart them without disturbing anything else: :func:`start_redis`,
  :func:`start_memcached`, :func:`start_zookeeper`, :func:`start_zookeeper_ensemble`.

This module is also imported by ``runtests.py`` before Django is set up, so it uses
the standard library only.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

HOST = "127.0.0.1"

#: Server name -> (environment variable with "host:port", default address).
SHARED = {
    "postgresql": ("DURABLEDICT_POSTGRESQL", f"{HOST}:5432"),
    "mariadb": ("DURABLEDICT_MARIADB", f"{HOST}:3306"),
    "redis": ("DURABLEDICT_REDIS", f"{HOST}:6379"),
    "memcached": ("DURABLEDICT_MEMCACHED", ""),
    "zookeeper": ("DURABLEDICT_ZOOKEEPER", ""),
}

#: How to get each server on Debian, for the skip message.
INSTALL_HINTS = {
    "postgresql": "apt-get install postgresql",
    "mariadb": "apt-get install mariadb-server",
    "redis": "apt-get install redis-server",
    "memcached": "apt-get install memcached",
    "zookeeper": "apt-get install zookeeper (Java is needed too)",
    "redis-sentinel": "apt-get install redis-sentinel",
    "chromium": "apt-get install chromium",
    "mysqlclient": "apt-get install pkg-config libmariadb-dev, then runtests.py "
    "adds mysqlclient to its virtualenv",
}

ZOOKEEPER_JARS = ["/usr/share/java/zookeeper.jar", "/usr/share/java/slf4j-nop.jar"]


def address(name: str) -> tuple[str, int] | None:
    """The (host, port) of shared server *name*, or None when not configured."""
    variable, default = SHARED[name]
    value = os.environ.get(variable, default)
    if not value:
        return None
    host, _, port = value.rpartition(":")
    return host, int(port)


def is_listening(host: str, port: int, timeout: float = 0.5) -> bool:
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


def shared_available(name: str) -> bool:
    addr = address(name)
    return addr is not None and is_listening(*addr)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        return sock.getsockname()[1]


def wait_until(predicate, timeout: float, interval: float = 0.05) -> bool:
    """Poll *predicate* until it is true or *timeout* seconds have passed."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(interval)
    return bool(predicate())


class Server:
    """A server process this test run started, on a loopback port."""

    def __init__(
        self,
        name: str,
        argv: Sequence[str],
        port: int,
        workdir: Path,
        ready=None,
        start_timeout: float = 30.0,
    ) -> None:
        self.name = name
        self.argv = list(argv)
        self.host = HOST
        self.port = port
        self.workdir = workdir
        self.ready = ready or (lambda: is_listening(self.host, self.port))
        self.start_timeout = start_timeout
        self.process: subprocess.Popen | None = None

    @property
    def address(self) -> str:
        return f"{self.host}:{self.port}"

    def start(self, wait: bool = True) -> Server:
        log = open(self.workdir / f"{self.name}.log", "ab")  # noqa: SIM115
        self.process = subprocess.Popen(
            self.argv,
            cwd=self.workdir,
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,  # a Ctrl-C in the terminal does not reach it
        )
        log.close()
        if wait and not wait_until(self.ready, self.start_timeout):
            self.stop()
            tail = (self.workdir / f"{self.name}.log").read_text(errors="replace")
            raise RuntimeError(f"{self.name} did not start on {self.address}:\n{tail}")
        return self

    def kill(self) -> None:
        """SIGKILL, and wait until the port is closed."""
        if self.process and self.process.poll() is None:
            self.process.kill()
            self.process.wait()
        wait_until(lambda: not is_listening(self.host, self.port), 10)

    def stop(self) -> None:
        """SIGTERM, then SIGKILL if it does not exit within 10 s."""
        if self.process and self.process.poll() is None:
            self.resume()
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()

    def pause(self) -> None:
        """SIGSTOP: the port stays open but nothing answers."""
        if self.process:
            self.process.send_signal(signal.SIGSTOP)

    def resume(self) -> None:
        if self.process:
            self.process.send_signal(signal.SIGCONT)

    def restart(self) -> Server:
        self.kill()
        return self.start()

    def __enter__(self) -> Server:
        return self

    def __exit__(self, *exc_info) -> None:
        self.stop()
        shutil.rmtree(self.workdir, ignore_errors=True)


def _workdir(name: str) -> Path:
    return Path(tempfile.mkdtemp(prefix=f"durabledict-{name}-"))


def have(binary: str) -> bool:
    return shutil.which(binary) is not None


def start_redis(port: int | None = None, *args: str) -> Server:
    """A private redis-server; extra *args* are redis-server options."""
    port = port or free_port()
    argv = ["redis-server", "--bind", HOST, "--port", str(port), "--save", ""]
    argv += ["--appendonly", "no", *args]
    return Server("redis", argv, port, _workdir("redis")).start()


def start_memcached(port: int | None = None, memory_mb: int = 64) -> Server:
    """A private memcached; a small *memory_mb* makes it evict keys early."""
    port = port or free_port()
    argv = ["memcached", "-l", HOST, "-p", str(port), "-U", "0", "-m", str(memory_mb)]
    if os.geteuid() == 0:
        argv += ["-u", "root"]
    return Server("memcached", argv, port, _workdir("memcached")).start()


def _zookeeper_ok(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=0.5) as sock:
            sock.sendall(b"ruok")
            return sock.recv(4) == b"imok"
    except OSError:
        return False


def zookeeper_installed() -> bool:
    return have("java") and Path(ZOOKEEPER_JARS[0]).exists()


def _zookeeper_server(
    port: int, workdir: Path, myid: int | None = None, peers: str = ""
) -> Server:
    data = workdir / "data"
    data.mkdir(parents=True, exist_ok=True)
    if myid is not None:
        (data / "myid").write_text(str(myid))
    (workdir / "zoo.cfg").write_text(
        "tickTime=500\n"
        "initLimit=20\nsyncLimit=10\n"
        f"dataDir={data}\n"
        f"clientPort={port}\nclientPortAddress={HOST}\n"
        "minSessionTimeout=1000\nmaxSessionTimeout=60000\n"
        "admin.enableServer=false\n4lw.commands.whitelist=*\n"
        "standaloneEnabled=true\nreconfigEnabled=false\n" + peers
    )
    argv = [
        "java",
        "-Xmx256m",
        "-XX:+UseSerialGC",
        "-Dzookeeper.jmx.log4j.disable=true",
        "-cp",
        ":".join(ZOOKEEPER_JARS),
        "org.apache.zookeeper.server.quorum.QuorumPeerMain",
        str(workdir / "zoo.cfg"),
    ]
    server = Server("zookeeper", argv, port, workdir, start_timeout=60)
    server.ready = lambda: _zookeeper_ok(HOST, port)
    return server


def start_zookeeper(port: int | None = None) -> Server:
    """A private standalone ZooKeeper (tickTime 500 ms, sessions 1–60 s)."""
    port = port or free_port()
    return _zookeeper_server(port, _workdir("zookeeper")).start()


def start_zookeeper_ensemble(size: int = 3) -> list[Server]:
    """*size* ZooKeeper servers forming one quorum on loopback ports.

    ``",".join(s.address for s in servers)`` is the connection string."""
    ports = [(free_port(), free_port(), free_port()) for _ in range(size)]
    peers = "".join(
        f"server.{i}={HOST}:{quorum}:{election}\n"
        for i, (_client, quorum, election) in enumerate(ports, 1)
    )
    servers = [
        _zookeeper_server(client, _workdir(f"zookeeper{i}"), myid=i, peers=peers)
        for i, (client, _q, _e) in enumerate(ports, 1)
    ]
    for server in servers:  # start all before waiting: a quorum needs a majority
        server.start(wait=False)
    for server in servers:
        if not wait_until(server.ready, 60):
            for other in servers:
                other.stop()
            raise RuntimeError(f"ZooKeeper ensemble member {server.address} not ready")
    return servers
