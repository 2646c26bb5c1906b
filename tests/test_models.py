"""DurableSetting and its manager: every write path bumps the namespace version
once per call, inside the writer's transaction; migrations are in sync."""

from io import StringIO

import pytest
from django.core.management import call_command
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext

from django_durabledict.models import DurableNamespace, DurableSetting
from django_durabledict.versioning import token_key

# Real commits: inside one transaction each namespace is (rightly) bumped once.
pytestmark = pytest.mark.django_db(transaction=True)


def version(name):
    return DurableNamespace.objects.version(name)


def make(namespace="ns", key="k", value="1"):
    return DurableSetting.objects.create(namespace=namespace, key=key, value=value)


def test_first_write_creates_the_namespace_at_a_large_random_version():
    make()
    assert version("ns") > 2**61
    assert version("other") is None


def test_save_and_delete_bump_the_version():
    setting = make()
    first = version("ns")
    setting.value = "2"
    setting.save()
    assert version("ns") == first + 1
    setting.delete()
    assert version("ns") == first + 2


def test_moving_a_row_to_another_namespace_bumps_both():
    setting = make(namespace="a")
    make(namespace="b", key="other")
    a, b = version("a"), version("b")
    setting = DurableSetting.objects.get(pk=setting.pk)
    setting.namespace = "b"
    setting.save()
    assert (version("a"), version("b")) == (a + 1, b + 1)


def test_a_transaction_bumps_each_namespace_once():
    make()
    before = version("ns")
    with transaction.atomic():
        for i in range(5):
            make(key=f"k{i}")
        DurableSetting.objects.filter(key="k0").delete()
    assert version("ns") == before + 1


def test_rolled_back_writes_leave_the_version_alone():
    make()
    before = version("ns")
    with pytest.raises(RuntimeError), transaction.atomic():
        make(key="x")
        raise RuntimeError
    assert version("ns") == before
    assert not DurableSetting.objects.filter(key="x").exists()


def test_a_rolled_back_savepoint_does_not_swallow_a_later_bump():
    make()
    before = version("ns")
    with transaction.atomic():
        with pytest.raises(RuntimeError), transaction.atomic():
            make(key="x")
            raise RuntimeError
        make(key="y")
    assert version("ns") == before + 1


@pytest.mark.parametrize(
    "operation",
    [
        lambda qs: qs.update(value="9"),
        lambda qs: qs.delete(),
        lambda qs: DurableSetting.objects.bulk_update(
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
def test_bulk_operations_bump_once_per_call(operation):
    for i in range(3):
        make(namespace="a", key=f"k{i}")
        make(namespace="b", key=f"k{i}")
    a, b = version("a"), version("b")
    operation(DurableSetting.objects.filter(key__in=["k0", "k1", "k2"]))
    assert (version("a"), version("b")) == (a + 1, b + 1)


def test_update_moving_rows_bumps_the_target_namespace():
    make(namespace="a")
    make(namespace="b", key="other")
    a, b = version("a"), version("b")
    DurableSetting.objects.filter(namespace="a").update(namespace="b")
    assert (version("a"), version("b")) == (a + 1, b + 1)


def test_update_with_an_expression_for_namespace_is_refused():
    from django.db.models import F

    with pytest.raises(TypeError):
        DurableSetting.objects.update(namespace=F("key"))


def test_bulk_create_and_helpers():
    DurableSetting.objects.bulk_create(
        [DurableSetting(namespace="a", key=f"k{i}", value="1") for i in range(3)]
    )
    first = version("a")
    DurableSetting.objects.set_many("a", {"k0": "2", "new": "3"})
    assert version("a") == first + 1
    assert dict(DurableSetting.objects.namespace("a").values_list("key", "value")) == {
        "k0": "2",
        "k1": "1",
        "k2": "1",
        "new": "3",
    }
    assert DurableSetting.objects.delete_many("a", ["k1", "k2", "missing"]) == 2
    assert version("a") == first + 2
    assert DurableSetting.objects.namespaces() == ["a"]


def test_an_unchanged_bump_costs_one_query():
    make()
    setting = DurableSetting.objects.get(key="k")
    with CaptureQueriesContext(connection) as queries:
        setting.save()
    # the version bump and the row update, inside one transaction
    statements = [
        q["sql"] for q in queries if not q["sql"].startswith(("SAVEPOINT", "RELEASE"))
    ]
    assert len([s for s in statements if s.startswith("UPDATE")]) == 2


def test_str_natural_key_and_verbose_names():
    setting = make(namespace="features", key="checkout")
    assert str(setting) == "features: checkout"
    assert setting.natural_key() == ("features", "checkout")
    assert DurableSetting.objects.get_by_natural_key("features", "checkout") == setting
    assert str(DurableSetting._meta.verbose_name) == "durable setting"
    assert str(DurableNamespace.objects.get_by_natural_key("features")) == "features"


def test_unique_namespace_and_key():
    from django.db import IntegrityError

    make()
    with pytest.raises(IntegrityError), transaction.atomic():
        make()


def test_token_keys_are_readable_or_hashed():
    assert (
        token_key("default", "t", "features")
        == "durabledict:default:t:features:version"
    )
    assert token_key("default", "t") == "durabledict:default:t:version"
    odd = token_key("default", "t", "with space:ü")
    assert " " not in odd and odd.isascii() and len(odd) < 100
    assert odd != token_key("default", "t", "with space:u")


def test_makemigrations_is_clean():
    call_command("makemigrations", "--check", "--dry-run", stdout=StringIO())
