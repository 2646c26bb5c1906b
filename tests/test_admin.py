"""DurableSettingAdmin: JSON editing with validation, the version bump on every
write, history entries, permissions, DEFAULTS, and a changelist of 10,000 keys."""

import json
import re

import pytest
from django.contrib.admin.models import LogEntry
from django.contrib.auth.models import Permission, User
from django.db import connection
from django.test import Client, override_settings
from django.test.utils import CaptureQueriesContext

from django_durabledict.models import DurableNamespace, DurableSetting
from tests.dictbackends import memory_entry

pytestmark = pytest.mark.django_db

MODEL = "django_durabledict.backends.model.ModelDict"
DICTS = {
    "features": {"BACKEND": MODEL, "CACHE": "default", "DEFAULTS": {"beta": False}},
    "limits": {"BACKEND": MODEL, "CACHE": "default", "MAX_VALUE_SIZE": 20},
    "memory": memory_entry(),
    "own_model": {"BACKEND": MODEL, "MODEL": "tests.Setting"},
    "renamed": {"BACKEND": MODEL, "OPTIONS": {"namespace": "other_ns"}},
}
URL = "/admin/django_durabledict/durablesetting/"

# A namespace's version is bumped once per transaction: tests that watch it change
# commit for real instead of running inside one test transaction.
committing = pytest.mark.django_db(transaction=True)


@pytest.fixture(autouse=True)
def configured():
    with override_settings(
        DURABLEDICTS=DICTS,
        ROOT_URLCONF="tests.integration_urls",
        MIDDLEWARE=[
            "django.contrib.sessions.middleware.SessionMiddleware",
            "django.middleware.csrf.CsrfViewMiddleware",
            "django.contrib.auth.middleware.AuthenticationMiddleware",
            "django.contrib.messages.middleware.MessageMiddleware",
            "django_durabledict.middleware.DurableDictSyncMiddleware",
        ],
    ):
        yield


def store(namespace, key, value):
    return DurableSetting.objects.create(
        namespace=namespace, key=key, value=json.dumps(value)
    )


def version(namespace):
    row = DurableNamespace.objects.filter(name=namespace).first()
    return row and row.version


def login(*codenames, superuser=False):
    user = User.objects.create_user(
        "staff" + "_".join(codenames), password="pw", is_staff=True
    )
    user.is_superuser = superuser
    user.save()
    user.user_permissions.set(Permission.objects.filter(codename__in=codenames))
    client = Client()
    client.force_login(user)
    return client


@pytest.fixture
def admin_client():
    return login(superuser=True)


@pytest.fixture
def flag():
    return store("features", "flag", False)


def change(client, setting, text):
    return client.post(f"{URL}{setting.pk}/change/", {"value": text})


def test_changelist_columns_filter_and_search(admin_client, flag):
    store("limits", "max", 10)
    page = admin_client.get(URL).content.decode()
    assert "flag" in page and "max" in page and "boolean" in page and "integer" in page
    filtered = admin_client.get(URL, {"namespace__exact": "limits"}).content.decode()
    assert ">max<" in filtered and ">flag<" not in filtered
    searched = admin_client.get(URL, {"q": "fla"}).content.decode()
    assert ">flag<" in searched and ">max<" not in searched


@committing
def test_change_writes_the_encoded_value_bumps_and_logs(admin_client, flag):
    before = version("features")
    response = change(admin_client, flag, '{"on": true}')
    assert response.status_code == 302
    flag.refresh_from_db()
    assert json.loads(flag.value) == {"on": True}
    assert version("features") != before
    entry = LogEntry.objects.get(object_id=str(flag.pk))
    assert entry.get_change_message() == (
        "Changed features['flag']: false → {\"on\": true}"
    )
    history = admin_client.get(f"{URL}{flag.pk}/history/").content.decode()
    assert "Changed features[&#x27;flag&#x27;]: false → {&quot;on&quot;: true}" in (
        history
    )


def test_add_writes_and_logs(admin_client):
    response = admin_client.post(
        f"{URL}add/", {"namespace": "features", "key": "new", "value": "[1, 2]"}
    )
    assert response.status_code == 302
    setting = DurableSetting.objects.get(namespace="features", key="new")
    assert json.loads(setting.value) == [1, 2]
    assert version("features") is not None
    entry = LogEntry.objects.get(object_id=str(setting.pk))
    assert entry.get_change_message() == "Added features['new'] = [1, 2]"


@committing
@pytest.mark.parametrize(
    ("text", "error"),
    [
        ("{not json", "Enter valid JSON"),
        ("", "This field is required"),
        ("NaN", "JSONEncoding cannot encode"),
        ('"' + "x" * 30 + '"', "this dict allows 20 (MAX_VALUE_SIZE)"),
    ],
)
def test_invalid_values_are_form_errors_and_write_nothing(admin_client, text, error):
    limit = store("limits", "max", 10)
    before = version("limits")
    response = change(admin_client, limit, text)
    assert response.status_code == 200
    assert error in response.content.decode()
    limit.refresh_from_db()
    assert limit.value == "10" and version("limits") == before
    assert not LogEntry.objects.exists()


@pytest.mark.parametrize("namespace", ["memory", "own_model", "renamed", "nope", ""])
def test_add_to_a_dict_not_on_durablesetting_is_an_error(admin_client, namespace):
    response = admin_client.post(
        f"{URL}add/", {"namespace": namespace, "key": "k", "value": "1"}
    )
    assert response.status_code == 200
    assert "errorlist" in response.content.decode()
    assert not DurableSetting.objects.exists()


def test_change_of_a_row_whose_dict_is_gone_is_an_error(admin_client):
    orphan = store("removed", "k", 1)
    response = change(admin_client, orphan, "2")
    assert "removed is not a configured dict" in response.content.decode()
    orphan.refresh_from_db()
    assert orphan.value == "1"


def test_duplicate_key_is_an_error(admin_client, flag):
    response = admin_client.post(
        f"{URL}add/", {"namespace": "features", "key": "flag", "value": "true"}
    )
    assert response.status_code == 200
    assert DurableSetting.objects.count() == 1


@committing
def test_delete_view_bumps_and_logs_the_old_value(admin_client, flag):
    before = version("features")
    response = admin_client.post(f"{URL}{flag.pk}/delete/", {"post": "yes"})
    assert response.status_code == 302
    assert not DurableSetting.objects.exists()
    assert version("features") != before
    entry = LogEntry.objects.get()
    assert entry.get_change_message() == "Deleted features['flag'] (was false)"


@committing
def test_bulk_delete_replaces_delete_selected_and_bumps(admin_client, flag):
    other = store("limits", "max", 10)
    versions = version("features"), version("limits")
    page = admin_client.get(URL).content.decode()
    assert "delete_selected_settings" in page and '"delete_selected"' not in page
    selected = [flag.pk, other.pk]
    data = {"action": "delete_selected_settings", "_selected_action": selected}
    confirm = admin_client.post(URL, data)
    assert "Are you sure" in confirm.content.decode()
    response = admin_client.post(URL, {**data, "post": "yes"})
    assert response.status_code == 302
    assert not DurableSetting.objects.exists()
    assert (version("features"), version("limits")) != versions
    assert version("features") != versions[0] and version("limits") != versions[1]
    messages = sorted(e.get_change_message() for e in LogEntry.objects.all())
    assert messages == [
        "Deleted features['flag'] (was false)",
        "Deleted limits['max'] (was 10)",
    ]


def test_anonymous_users_are_sent_to_login(flag):
    for url in (URL, f"{URL}{flag.pk}/change/", f"{URL}add/"):
        response = Client().get(url)
        assert response.status_code == 302 and "/admin/login/" in response["Location"]


def test_view_only_staff_read_but_cannot_write(flag):
    client = login("view_durablesetting")
    assert client.get(URL).status_code == 200
    page = client.get(f"{URL}{flag.pk}/change/").content.decode()
    assert "<textarea" not in page and 'name="_save"' not in page
    assert change(client, flag, "true").status_code == 403
    assert client.get(f"{URL}add/").status_code == 403
    assert client.post(f"{URL}{flag.pk}/delete/", {"post": "yes"}).status_code == 403
    assert "delete_selected_settings" not in client.get(URL).content.decode()
    bulk = {"action": "delete_selected_settings", "_selected_action": [flag.pk]}
    client.post(URL, {**bulk, "post": "yes"})
    assert DurableSetting.objects.filter(pk=flag.pk).exists()
    flag.refresh_from_db()
    assert flag.value == "false"


def test_staff_without_permissions_are_refused(flag):
    client = login()
    assert client.get(URL).status_code == 403
    assert change(client, flag, "true").status_code == 403


def test_change_permission_without_delete(flag):
    client = login("view_durablesetting", "change_durablesetting")
    assert change(client, flag, "true").status_code == 302
    assert "delete_selected_settings" not in client.get(URL).content.decode()
    assert client.post(f"{URL}{flag.pk}/delete/", {"post": "yes"}).status_code == 403


def test_defaults_not_stored_are_listed_with_an_override_link(admin_client):
    page = admin_client.get(URL).content.decode()
    assert "durabledict-unstored-defaults" in page
    assert "namespace=features&amp;key=beta&amp;value=false" in page
    form = admin_client.get(
        f"{URL}add/", {"namespace": "features", "key": "beta", "value": "false"}
    ).content.decode()
    assert 'value="beta"' in form and "\nfalse</textarea>" in form
    store("features", "beta", True)
    assert "durabledict-unstored-defaults" not in admin_client.get(URL).content.decode()


def test_defaults_are_listed_without_a_link_for_view_only_staff():
    page = login("view_durablesetting").get(URL).content.decode()
    assert "durabledict-unstored-defaults" in page and "key=beta" not in page


def test_changelist_of_ten_thousand_keys_is_paginated_with_few_queries(admin_client):
    DurableSetting.objects.bulk_create(
        DurableSetting(namespace="features", key=f"k{i:05}", value=str(i))
        for i in range(10_000)
    )
    admin_client.get(URL)  # warm up the session and content types
    with CaptureQueriesContext(connection) as queries:
        response = admin_client.get(URL, {"p": 51})
    assert response.status_code == 200
    page = response.content.decode()
    assert page.count('name="_selected_action"') == 100
    assert "k05000" in page
    assert len(queries) <= 8, [q["sql"] for q in queries]


def test_the_namespace_of_an_entry_is_its_options_namespace(admin_client):
    form = admin_client.get(f"{URL}add/").content.decode()
    assert '<option value="other_ns">' in form and 'value="renamed"' not in form
    response = admin_client.post(
        f"{URL}add/", {"namespace": "other_ns", "key": "k", "value": "1"}
    )
    assert response.status_code == 302
    assert DurableSetting.objects.get(namespace="other_ns").value == "1"


def original_of(client, setting):
    page = client.get(f"{URL}{setting.pk}/change/").content.decode()
    return re.search(r'name="original" value="([0-9a-f]+)"', page)[1]


@committing
def test_a_change_made_meanwhile_is_not_overwritten(admin_client, flag):
    original = original_of(admin_client, flag)
    DurableSetting.objects.filter(pk=flag.pk).update(value="true")  # someone else
    response = admin_client.post(
        f"{URL}{flag.pk}/change/", {"value": "1", "original": original}
    )
    assert "changed by someone else" in response.content.decode()
    flag.refresh_from_db()
    assert flag.value == "true"
    fresh = original_of(admin_client, flag)
    response = admin_client.post(
        f"{URL}{flag.pk}/change/", {"value": "1", "original": fresh}
    )
    assert response.status_code == 302
    flag.refresh_from_db()
    assert flag.value == "1"


def test_view_only_pages_have_no_original_field(flag):
    page = login("view_durablesetting").get(f"{URL}{flag.pk}/change/")
    assert page.status_code == 200 and 'name="original"' not in page.content.decode()
