"""Multi-process histories of one ZookeeperDict on a private ZooKeeper: no
process ever shows a phantom, stale or regressing snapshot (see tests/history.py).

Three writers and two readers run as OS processes over 8 keys (keys deleted and
re-created all the time; bulk writes as multi-ops; ``clear()``), while this
process deletes and re-creates the whole root behind their backs. The oracle is
the server's own transaction log, replayed (tests/zk_txnlog.py): the dict's state
after every transaction, by zxid. Every snapshot a process shows, after each sync
or write, must be the state at the zxid of its token, no older than the newest
zxid committed before it began (a reader first ``sync()``s its client and waits
for the events), and no older than its previous snapshot.
"""

import json
import random
import time
from concurrent.futures import ProcessPoolExecutor
from multiprocessing import get_context

import pytest
from kazoo.client import KazooClient
from kazoo.exceptions import NoNodeError, NotEmptyError

from tests import servers
from tests.history import History, Observation
from tests.zk_txnlog import dict_versions
from tests.zookeeper_helpers import unique_root
from tests.zookeeper_history_workers import run

pytestmark = [pytest.mark.services("zookeeper-server"), pytest.mark.slow]

OPERATIONS = 2000  # per process: 10,000 in all
ROLES = ["writer", "writer", "writer", "reader", "reader"]


@pytest.fixture
def server():
    if not servers.zookeeper_installed():
        pytest.skip("ZooKeeper is not installed")
    with servers.start_zookeeper() as server:
        yield server


def test_no_phantom_stale_or_regressing_snapshot(server):
    root = unique_root()
    admin = KazooClient(hosts=f"{server.host}:{server.port}")
    admin.start(timeout=30)
    admin.ensure_path(root)
    rng, root_deletions = random.Random(15), 0
    pool = ProcessPoolExecutor(len(ROLES), mp_context=get_context("spawn"))
    with pool:
        futures = [
            pool.submit(run, role, server.host, server.port, root, seed, OPERATIONS)
            for seed, role in enumerate(ROLES)
        ]
        while not all(future.done() for future in futures):
            time.sleep(0.5)
            if rng.random() < 0.3:
                try:
                    admin.delete(root, recursive=True)  # the writers re-create it
                    root_deletions += 1
                except (NotEmptyError, NoNodeError):
                    pass  # a writer created a key meanwhile
        results = [future.result() for future in futures]
    versions = dict_versions(server.workdir / "data" / "version-2", root)
    admin.stop()
    admin.close()

    history, zxids = History(), []
    for zxid, state in versions:
        history.add(zxid, {key: json.loads(data) for key, data in state.items()})
        zxids.append(zxid)

    def version_at(zxid):
        """The newest version at or before *zxid*."""
        return max([0] + [i + 1 for i, z in enumerate(zxids) if z <= zxid])

    observations, loads = [], {"incremental": 0, "full": 0}
    for number, (seen, counted) in enumerate(results):
        for floor, token, state, *_ in seen:
            floor = version_at(floor) if floor >= 0 else 0
            # zxid 0: the root was missing when read, a state with no zxid of
            # its own; placed by its values (empty).
            token = token or None
            observations.append(Observation(f"p{number}", floor, token, state))
        for kind, count in counted.items():
            loads[kind] += count
    counts = history.check(observations)
    assert len(observations) == len(ROLES) * OPERATIONS
    assert counts["phantom"] == counts["stale"] == counts["regressing"] == 0, (
        history.problems[:5]
    )
    assert root_deletions > 0
    assert loads["incremental"] > 1000 and loads["full"] > 0, loads
