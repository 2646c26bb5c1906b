"""RedisDict through redis-py's Sentinel support while the primary fails over.

A primary, a replica and one redis-sentinel run on free loopback ports. A writer
process writes without pause and two reader processes sync in a loop while the
primary is killed (or handed over with SENTINEL FAILOVER). Redis replication is
asynchronous, so acknowledged writes may be lost: they are counted and reported,
not asserted to be zero. What is asserted: writes resume on the new primary, and
every reader's next sync after a post-failover write shows exactly the store.
"""

import contextlib
import itertools
import multiprocessing
import tempfile
import time
from pathlib import Path

import pytest
import redis

from tests import servers
from tests.redis_workers import sentinel_dict, sentinel_reader, sentinel_writer

pytestmark = [
    pytest.mark.services("redis-server", "redis-sentinel"),
    pytest.mark.slow,
    pytest.mark.timeout(120),
]


def start_sentinel(primary_port: int) -> servers.Server:
    port = servers.free_port()
    workdir = Path(tempfile.mkdtemp(prefix="durabledict-sentinel-"))
    (workdir / "sentinel.conf").write_text(
        f"port {port}\nbind {servers.HOST}\ndir {workdir}\n"
        f"sentinel monitor primary {servers.HOST} {primary_port} 1\n"
        "sentinel down-after-milliseconds primary 1000\n"
        "sentinel failover-timeout primary 10000\n"
    )
    argv = ["redis-sentinel", str(workdir / "sentinel.conf")]
    return servers.Server("sentinel", argv, port, workdir).start()


#: Scenario -> (extra options of the primary, how it fails).
SCENARIOS = {
    "kill": ([], "kill"),
    "sentinel-failover": ([], "failover"),
    # The old primary refuses writes once no replica has acknowledged for 1 s,
    # which bounds the split brain a SENTINEL FAILOVER leaves (docs/backends/redis).
    "sentinel-failover-min-replicas": (
        ["--min-replicas-to-write", "1", "--min-replicas-max-lag", "1"],
        "failover",
    ),
}


@contextlib.contextmanager
def deployment(primary_options):
    """(primary, replica, sentinel, admin client of the sentinel)."""
    with contextlib.ExitStack() as stack:
        primary = stack.enter_context(
            servers.start_redis(
                None, "--repl-diskless-sync-delay", "0", *primary_options
            )
        )
        replica = stack.enter_context(
            servers.start_redis(None, "--replicaof", servers.HOST, str(primary.port))
        )
        sentinel = stack.enter_context(start_sentinel(primary.port))
        admin = redis.Redis(
            host=sentinel.host, port=sentinel.port, decode_responses=True
        )
        stack.callback(admin.close)
        assert servers.wait_until(lambda: replica_linked(admin), 20), (
            "the sentinel did not find the replica"
        )
        yield primary, replica, sentinel, admin


def replica_linked(admin) -> bool:
    replicas = admin.sentinel_slaves("primary")
    return bool(replicas) and replicas[0]["master-link-status"] == "ok"


def current_primary_port(admin) -> int:
    return int(admin.sentinel_get_master_addr_by_name("primary")[1])


def fail_over(fault, deployment) -> tuple[float, float]:
    """Fail the primary over; return when it started and when it was over.

    Over means: Sentinel names the replica as primary and, after a SENTINEL
    FAILOVER, has also turned the old primary into a replica. Until then the old
    primary still takes writes from clients whose connections it keeps (a split
    brain), and those writes are lost when it becomes a replica."""
    primary, replica, _sentinel, admin = deployment
    started = time.monotonic()
    if fault == "kill":
        primary.kill()
    else:
        admin.sentinel_failover("primary")
    assert servers.wait_until(
        lambda: current_primary_port(admin) == replica.port, 30
    ), "no failover"
    if fault != "kill":
        old = redis.Redis(host=primary.host, port=primary.port, decode_responses=True)
        assert servers.wait_until(
            lambda: old.info("replication")["role"] == "slave", 30
        ), "the old primary was not turned into a replica"
        old.close()
    return started, time.monotonic()


@pytest.mark.parametrize("scenario", SCENARIOS)
def test_failover_while_writing_and_reading(scenario):
    primary_options, fault = SCENARIOS[scenario]
    with deployment(primary_options) as servers_:
        reports, store, fault_at, settled_at = run_failover(servers_, fault)
    figures = failover_figures(reports, store, fault_at, settled_at)
    print(f"\nfailover ({scenario}): {figures}")
    for name in ("reader1", "reader2"):
        assert reports[name]["snapshot"] == store, f"{name} stale after its sync"


def run_failover(deployment, fault):
    """Writer and readers running while the primary fails over; their reports,
    the final store and when the failover started and ended."""
    sentinel = deployment[2]
    keyspace = "durabledict-failover"
    context = multiprocessing.get_context("spawn")
    stop, final = context.Event(), context.Event()
    acked_count, results = context.Value("i", 0), context.Queue()
    processes = [
        context.Process(
            target=sentinel_writer,
            args=(sentinel.port, keyspace, stop, acked_count, results),
        ),
        *(
            context.Process(
                target=sentinel_reader,
                args=(sentinel.port, keyspace, f"reader{n}", final, results),
            )
            for n in (1, 2)
        ),
    ]
    for process in processes:
        process.start()
    try:
        assert servers.wait_until(lambda: acked_count.value >= 50, 30)
        fault_at, settled_at = fail_over(fault, deployment)
        acked_at_settled = acked_count.value
        assert servers.wait_until(
            lambda: acked_count.value >= acked_at_settled + 50, 30
        )
        stop.set()
        reports = dict([results.get(timeout=30)])
        final_writer = sentinel_dict(sentinel.port, keyspace, autosync=False)
        final_writer["final"] = "after the failover"  # acknowledged
        final.set()
        reports.update(results.get(timeout=30) for _ in range(2))
        final_writer.sync()
        store = final_writer.copy()
    finally:
        stop.set()
        final.set()
        for process in processes:
            process.join(10)
            if process.is_alive():
                process.kill()
    return reports, store, fault_at, settled_at


def failover_figures(reports, store, fault_at, settled_at) -> dict:
    """What the failover cost: writes acknowledged and lost, how long the writer
    could not write, and how soon the readers saw the new primary's writes."""
    writer = reports["writer"]
    acked = dict(writer["acked"])
    lost = [i for i in acked if f"k{i}" not in store]
    times = sorted(acked.values())
    gap = max(b - a for a, b in itertools.pairwise(times) if b > fault_at)
    after = {i: t for i, t in acked.items() if t > settled_at}
    first_i = min(after)
    readers = {}
    for name in ("reader1", "reader2"):
        seen = reports[name]["seen"]
        # None: the reader's loop never saw it (it may have been reading the
        # old primary); its one final sync is checked by the test itself.
        saw = next((t for t, newest in seen if newest >= first_i), None)
        readers[name] = {
            "syncs": reports[name]["syncs"],
            "saw_first_post_failover_write_after_s": None
            if saw is None
            else round(saw - after[first_i], 3),
            # Writes this reader saw that the failover then lost.
            "saw_lost_writes": len({newest for _, newest in seen} & set(lost)),
        }
    return {
        "acked": len(acked),
        "acked_after_failover": len(after),
        "failover_s": round(settled_at - fault_at, 3),
        "acked_lost": len(lost),
        "failed_outcome_unknown": len(writer["failed"]),
        "longest_gap_between_acks_s": round(gap, 3),
        "readers": readers,
    }
