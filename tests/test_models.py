"""DurableSetting and its manager: every write path bumps the namespace version
once per call, inside the writer's transaction; migrations are in sync."""

import contextlib
from io import StringIO

import pytest
from django.core.management import call_command
from django.db import IntegrityError, connections, transaction
from django.db.models import F
from django.test.utils import CaptureQueriesContext

from django_durabledict.models import DurableNamespace, DurableSetting
from django_durabledict.versioning import token_key
from tests.modelsupport import DATABASES, db_marks

# Real commits (transaction=True): inside one transaction each namespace is
# (rightly) bumped once, so bump counts need transactions of their own.
DB_PARAMS = [pytest.param(db, marks=db_marks(db)) for db in DATABASES]


@pytest.fixture(params=DB_PARAMS)
def db(request):
    return request.param


def settings_of(db):
    return DurableSetting.objects.db_manager(db)


def version(db, name):
    return DurableNamespace.objects.db_manager(db).version(name)


def make(db, namespace="ns", key="k", value="1"):
    return settings_of(db).create(namespace=namespace, key=key, value=value)


@contextlib.contextmanager
def count_bumps(db):
    """Yields a list that ends up holding the bump statements run inside."""
    bumps = []
    with CaptureQueriesContext(connections[db]) as queries:
        yield bumps
    bumps += [
        q["sql"]
        for q in queries
        if "durablenamespace" in q["sql"] and q["sql"].startswith("INSERT")
    ]


def test_first_write_creates_the_namespace_at_a_large_random_version(db):
    make(db)
    assert version(db, "ns") > 2**61
    assert version(db, "other") is None


def test_save_and_delete_bump_the_version(db):
    setting = make(db)
    first = version(db, "ns")
    setting.value = "2"
    with count_bumps(db) as bumps:
        setting.save()
    second = version(db, "ns")
    assert second != first and second > 2**61 and len(bumps) == 1
    setting.delete()
    assert version(db, "ns") not in (first, second)


def test_moving_a_row_to_another_namespace_bumps_both(db):
    setting = make(db, namespace="a")
    make(db, namespace="b", key="other")
    a, b = version(db, "a"), version(db, "b")
    setting = settings_of(db).get(pk=setting.pk)
    setting.namespace = "b"
    setting.save()
    assert version(db, "a") != a and version(db, "b") != b


def test_a_transaction_bumps_each_namespace_once(db):
    make(db)
    before = version(db, "ns")
    with count_bumps(db) as bumps, transaction.atomic(using=db):
        for i in range(5):
            make(db, key=f"k{i}")
        settings_of(db).filter(key="k0").delete()
        settings_of(db).filter(key="k1").update(value="2")
    assert version(db, "ns") != before and len(bumps) == 1


def test_rolled_back_writes_leave_the_version_alone(db):
    make(db)
    before = version(db, "ns")
    with pytest.raises(RuntimeError), transaction.atomic(using=db):
        make(db, key="x")
        raise RuntimeError
    assert version(db, "ns") == before
    assert not settings_of(db).filter(key="x").exists()


def test_a_rolled_back_savepoint_does_not_swallow_a_later_bump(db):
    make(db)
    before = version(db, "ns")
    with transaction.atomic(using=db):
        with pytest.raises(RuntimeError), transaction.atomic(using=db):
            make(db, key="x")
            raise RuntimeError
        make(db, key="y")
    assert version(db, "ns") != before


@pytest.mark.parametrize(
    "operation",
    [
        lambda qs: qs.update(value="9"),
        lambda qs: qs.delete(),
        lambda qs: qs.model.objects.db_manager(qs.db).bulk_update(
            [
                DurableSetting(pk=s.pk, namespace=s.namespace, key=s.key, value="5")
                for s in qs
            ],
            ["value"],
            batch_size=1,
        ),
    ],
    ids=["update", "delete", "bulk_update"],
)
def test_bulk_operations_bump_once_per_call(db, operation):
    for i in range(3):
        make(db, namespace="a", key=f"k{i}")
        make(db, namespace="b", key=f"k{i}")
    a, b = version(db, "a"), version(db, "b")
    with count_bumps(db) as bumps:
        operation(settings_of(db).filter(key__in=["k0", "k1", "k2"]))
    assert version(db, "a") != a and version(db, "b") != b
    assert len(bumps) == 1  # one upsert statement for both namespaces


def test_update_moving_rows_bumps_the_target_namespace(db):
    make(db, namespace="a")
    make(db, namespace="b", key="other")
    a, b = version(db, "a"), version(db, "b")
    settings_of(db).filter(namespace="a").update(namespace="b")
    assert version(db, "a") != a and version(db, "b") != b


def test_update_with_an_expression_for_namespace_is_refused(db):
    with pytest.raises(TypeError):
        settings_of(db).update(namespace=F("key"))


def test_bulk_create_and_helpers(db):
    settings_of(db).bulk_create(
        [DurableSetting(namespace="a", key=f"k{i}", value="1") for i in range(3)]
    )
    first = version(db, "a")
    with count_bumps(db) as bumps:
        settings_of(db).set_many("a", {"k0": "2", "new": "3"})
    second = version(db, "a")
    assert second != first and len(bumps) == 1
    stored = dict(settings_of(db).namespace("a").values_list("key", "value"))
    assert stored == {"k0": "2", "k1": "1", "k2": "1", "new": "3"}
    assert settings_of(db).delete_many("a", ["k1", "k2", "missing"]) == 2
    assert version(db, "a") not in (first, second)
    assert settings_of(db).namespaces() == ["a"]


def test_str_natural_key_and_verbose_names(db):
    setting = make(db, namespace="features", key="checkout")
    assert str(setting) == "features: checkout"
    assert setting.natural_key() == ("features", "checkout")
    assert settings_of(db).get_by_natural_key("features", "checkout") == setting
    assert str(DurableSetting._meta.verbose_name) == "durable setting"
    namespace = DurableNamespace.objects.db_manager(db).get_by_natural_key("features")
    assert str(namespace) == "features" and namespace.natural_key() == ("features",)


def test_unique_namespace_and_key(db):
    make(db)
    with pytest.raises(IntegrityError), transaction.atomic(using=db):
        make(db)


def test_longest_namespace_and_key_fit_the_unique_index(db):
    """utf8mb4 on MariaDB: 4 bytes a character, within InnoDB's 3072-byte keys."""
    make(db, namespace="ü" * 100, key="✓" * 255)
    assert settings_of(db).get(namespace="ü" * 100).key == "✓" * 255


def test_token_keys_are_readable_or_hashed():
    assert (
        token_key("default", "t", "features")
        == "durabledict:default:t:features:version"
    )
    assert token_key("default", "t") == "durabledict:default:t:version"
    odd = token_key("default", "t", "with space:ü")
    assert " " not in odd and odd.isascii() and len(odd) < 100
    assert odd != token_key("default", "t", "with space:u")


@pytest.mark.django_db
def test_makemigrations_is_clean():
    call_command("makemigrations", "--check", "--dry-run", stdout=StringIO())
