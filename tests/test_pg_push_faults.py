"""The PostgreSQL listener against a private PostgreSQL that is restarted.

The shared server cannot be restarted, and Django's connections in this test
run point at it, so this drives the listener itself (push/pgchannel.py) with a
writer that issues its NOTIFY in a transaction, as the version upsert does. The
ModelDict side is in tests/test_model_push.py.
"""

import os
import shutil
import signal
import subprocess
import tempfile
from pathlib import Path

import psycopg
import pytest

from django_durabledict import push
from django_durabledict.push import PushState, attach
from django_durabledict.push.pgchannel import PgListener, pg_channel
from tests import servers

BIN = next(iter(sorted(Path("/usr/lib/postgresql").glob("*/bin"))), None)

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(
        BIN is None or os.geteuid() != 0 or not shutil.which("setpriv"),
        reason="needs PostgreSQL's binaries, root and setpriv (runs it as postgres)",
    ),
]


def as_postgres(*argv):
    return ["setpriv", "--reuid=postgres", "--regid=postgres", "--init-groups", *argv]


@pytest.fixture
def server():
    workdir = Path(tempfile.mkdtemp(prefix="durabledict-pg-"))
    shutil.chown(workdir, "postgres", "postgres")
    data = workdir / "data"
    subprocess.run(
        as_postgres(str(BIN / "initdb"), "-D", str(data), "-A", "trust", "-U", "x"),
        check=True,
        capture_output=True,
    )
    port = servers.free_port()
    argv = as_postgres(
        str(BIN / "postgres"), "-D", str(data), "-p", str(port), "-k", str(workdir)
    )
    argv += ["-c", f"listen_addresses={servers.HOST}", "-c", "fsync=off"]
    server = servers.Server("postgresql", argv, port, workdir).start()
    yield server
    server.stop()
    shutil.rmtree(workdir, ignore_errors=True)


@pytest.fixture(autouse=True)
def no_listeners_left():
    yield
    push.stop_all()


def restart(server):
    """A fast shutdown (SIGINT: clients are disconnected), then a start."""
    server.process.send_signal(signal.SIGINT)
    server.process.wait(30)
    servers.wait_until(lambda: not servers.is_listening(server.host, server.port), 10)
    server.start()


def notify(params, channel):
    with psycopg.connect(**params) as connection:  # a transaction, committed
        connection.execute("SELECT pg_notify(%s, '')", [channel])


def test_restarted_postgresql_the_listener_comes_back_and_polls_once(server):
    params = {"host": server.host, "port": server.port, "dbname": "postgres"}
    params["user"] = "x"
    channel = pg_channel("t", "ns")
    key = ("postgresql-private", server.port)
    state = PushState(
        "private",
        30.0,
        lambda s: attach(s, key, channel, lambda: PgListener(key, params)),
    )
    assert state.should_poll()  # not live yet: poll; and start the listener
    assert servers.wait_until(state.is_live, 10)
    for _ in range(2):
        state.dirty = False
        notify(params, channel)
        assert servers.wait_until(lambda: state.dirty, 10)
        state.dirty = False
        restart(server)
        # Down, then listening again: every dict of it is marked dirty, which
        # covers a NOTIFY it could not hear meanwhile.
        assert servers.wait_until(state.is_live, 20)
        assert state.dirty
    with psycopg.connect(**params) as connection:  # rolled back: nothing heard
        connection.execute("SELECT pg_notify(%s, '')", [channel])
        state.dirty = False
        connection.rollback()
    assert not servers.wait_until(lambda: state.dirty, 1.0)
    state.close()
