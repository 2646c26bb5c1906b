"""durabledict_dump and durabledict_load with ModelDict, on SQLite, PostgreSQL and
MariaDB: round trips, a dump that writes nothing, a load that is one transaction
with one version change, what each database refuses, and a reader in another
process that never sees a load half done."""

import json
import threading
import uuid

import pytest
from django.core.management.base import CommandError
from django.db import connections, transaction
from django.test.utils import CaptureQueriesContext, override_settings

from django_durabledict import dicts
from django_durabledict.models import DurableNamespace, DurableSetting
from tests.commands_helpers import SAMPLE, Reader, dump, load, states, write_document
from tests.modelsupport import count_cache_calls, db_marks

MODEL = "django_durabledict.backends.model.ModelDict"
PICKLE = "django_durabledict.encoding.PickleEncoding"
WRITES = ("INSERT", "UPDATE", "DELETE", "REPLACE")


@pytest.fixture(
    params=[
        pytest.param(alias, marks=db_marks(alias))
        for alias in ("default", "postgresql", "mariadb")
    ]
)
def database(request):
    return request.param


def configure(database, namespace, **extra):
    entry = {"BACKEND": MODEL, "DATABASE": database, **extra}
    return override_settings(
        DURABLEDICTS={
            "cfg": {**entry, "OPTIONS": {"namespace": namespace}},
            "legacy": {
                **entry,
                "ENCODING": PICKLE,
                "OPTIONS": {"namespace": namespace + "-p"},
            },
        }
    )


@pytest.fixture
def namespace():
    return f"cmd-{uuid.uuid4().hex[:10]}"


@pytest.fixture
def cfg(database, namespace):
    with configure(database, namespace):
        yield database
    dicts.close_all()


def rows(database, namespace):
    settings = DurableSetting.objects.using(database).filter(namespace=namespace)
    return dict(settings.values_list("key", "value"))


def ns_version(database, namespace):
    return DurableNamespace.objects.using(database).version(namespace)


def test_round_trip_into_an_empty_namespace(database, tmp_path):
    first, second = (f"cmd-{uuid.uuid4().hex[:10]}" for _ in range(2))
    path = tmp_path / "dump.json"
    with configure(database, first):
        dicts["cfg"]._apply(SAMPLE, [])
        dicts["legacy"]._apply({"ips": {"10.0.0.1", "10.0.0.2"}, "n": 3}, [])
        dump("--all", "--raw", "-o", str(path))
        pickled = rows(database, first + "-p")
    with configure(database, second):
        out, _ = load(str(path), "--no-input")
        assert f"cfg: {len(SAMPLE)} changes written." in out
        assert dump("--all", "--raw")[0] == path.read_text(encoding="utf-8")
        assert rows(database, second + "-p") == pickled  # the same pickle text
        assert dicts["cfg"].copy() == SAMPLE
        assert dicts["legacy"]["ips"] == {"10.0.0.1", "10.0.0.2"}
    dicts.close_all()


@pytest.mark.parametrize("built", [False, True], ids=["fresh", "built"])
def test_a_dump_only_selects(cfg, namespace, built):
    dicts["cfg"]._apply(SAMPLE, [])
    dicts.close_all()
    if built:
        dicts["cfg"].sync()
    else:
        # No token in the cache: building the dict the normal way would create one.
        from django.core.cache import caches

        caches["default"].clear()
    version = ns_version(cfg, namespace)
    with (
        CaptureQueriesContext(connections[cfg]) as queries,
        count_cache_calls() as cache,
    ):
        out, _ = dump("cfg")
    assert json.loads(out)["dicts"]["cfg"] == SAMPLE
    statements = [q["sql"].lstrip().split()[0].upper() for q in queries]
    assert statements == ["SELECT"]  # one query: the snapshot
    assert not [c for c in cache.calls if c.split(":")[1] in ("add", "set", "incr")]
    assert cache.total == 0
    assert ns_version(cfg, namespace) == version


def test_a_load_is_one_transaction_and_one_version_change(cfg, namespace, tmp_path):
    dicts["cfg"]._apply({f"k{i}": i for i in range(50)}, [])
    version = ns_version(cfg, namespace)
    new = {f"k{i}": -i for i in range(25, 75)}
    path = write_document(tmp_path / "f.json", {"cfg": new})
    with (
        CaptureQueriesContext(connections[cfg]) as queries,
        count_cache_calls() as cache,
    ):
        load(path, "--no-input", "--prune")
    assert ns_version(cfg, namespace) == version + 1
    assert cache.calls["locmem:incr"] == 1  # the hint, bumped once after commit
    writes = [q["sql"] for q in queries if q["sql"].lstrip().upper().startswith(WRITES)]
    # The namespace's version row, one upsert of every row, one delete, and one
    # upsert of the deleted keys' tombstones (for incremental sync).
    assert len(writes) == 4, writes
    assert dicts["cfg"].copy() == new
    assert {k: json.loads(v) for k, v in rows(cfg, namespace).items()} == new


def test_keys_longer_than_the_column_are_refused(cfg, namespace, tmp_path):
    dicts["cfg"]["a"] = 1
    path = write_document(tmp_path / "f.json", {"cfg": {"k" * 256: 1, "b": 2}})
    with pytest.raises(CommandError) as error:
        load(path, "--no-input")
    assert "is 256 characters long" in str(error.value)
    assert "durabledict_durablesetting.key holds 255" in str(error.value)
    assert rows(cfg, namespace) == {"a": "1"}


@pytest.mark.django_db(transaction=True, databases=["postgresql"])
@pytest.mark.services("postgresql")
def test_postgresql_refuses_nul_in_keys(namespace, tmp_path):
    with configure("postgresql", namespace):
        path = write_document(tmp_path / "f.json", {"cfg": {"a\x00b": 1}})
        with pytest.raises(CommandError, match="NUL character"):
            load(path, "--no-input")
        assert rows("postgresql", namespace) == {}
    dicts.close_all()


@pytest.mark.django_db(transaction=True, databases=["mariadb"])
@pytest.mark.services("mariadb")
def test_mariadb_refuses_keys_its_collation_holds_as_one(namespace, tmp_path):
    with configure("mariadb", namespace):
        dicts["cfg"]["feature"] = 1
        version = ns_version("mariadb", namespace)
        for values in ({"Feature": 2}, {"x": 1, "X ": 2}, {"café": 1, "cafe": 2}):
            path = write_document(tmp_path / "f.json", {"cfg": values})
            with pytest.raises(CommandError, match="are one key for the database"):
                load(path, "--no-input", "--prune")
        assert rows("mariadb", namespace) == {"feature": "1"}
        assert ns_version("mariadb", namespace) == version
    dicts.close_all()


def test_a_reader_in_another_process_never_sees_a_half_applied_load(
    cfg, namespace, tmp_path
):
    old, new = states(3000)
    dicts["cfg"]._apply(old, [])
    path = write_document(tmp_path / "f.json", {"cfg": new})
    reader = Reader(
        {
            "kind": "model",
            "database": cfg,
            "db_name": connections[cfg].settings_dict["NAME"],
            "namespace": namespace,
            "count": 3000,
        }
    )
    reader.wait_ready()
    load(path, "--no-input", "--prune")
    seen = reader.result()
    assert seen.get("mixed", 0) == 0, seen
    assert seen.get("old", 0) >= 1 and seen.get("new", 0) >= 1, seen


def test_apply_inside_a_transaction_shows_elsewhere_at_commit(cfg):
    durable = dicts["cfg"]
    durable["a"] = 1

    def other_thread():
        seen = []
        thread = threading.Thread(target=lambda: seen.append(durable.copy()))
        thread.start()
        thread.join(10)
        return seen[0]

    with transaction.atomic(using=cfg):
        durable._apply({"b": 2}, ["a"])
        assert durable.copy() == {"b": 2}  # this transaction's view
        assert other_thread() == {"a": 1}  # not committed: not shown elsewhere
    assert other_thread() == {"b": 2}
