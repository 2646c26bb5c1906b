"""The admin's status page (linked from the DurableSetting changelist) and the
optional health view, through the Django test client."""

import json
import re

import pytest
from django.contrib.admin.models import CHANGE, LogEntry
from django.contrib.auth.models import Permission, User
from django.contrib.contenttypes.models import ContentType
from django.db import connection
from django.test import Client, override_settings
from django.test.utils import CaptureQueriesContext

from django_durabledict import dicts
from django_durabledict.models import DurableNamespace, DurableSetting
from tests.dictbackends import memory_entry, reset_stores, store_for

# Committed for real: a ModelDict built inside a test transaction loads into that
# transaction's view only, and its shared snapshot (what the page shows) stays empty.
pytestmark = pytest.mark.django_db(transaction=True)

MODEL = "django_durabledict.backends.model.ModelDict"
DICTS = {
    "features": {"BACKEND": MODEL, "CACHE": "default"},
    "memory": memory_entry(),
}
CHANGELIST = "/admin/django_durabledict/durablesetting/"
STATUS = CHANGELIST + "status/"


@pytest.fixture(autouse=True)
def configured():
    with override_settings(DURABLEDICTS=DICTS, ROOT_URLCONF="tests.status_urls"):
        yield
    dicts.close_all()
    reset_stores()


def login(*codenames, superuser=False):
    user = User.objects.create_user(
        "staff_" + "_".join(codenames or ("super",)), password="pw", is_staff=True
    )
    user.is_superuser = superuser
    user.save()
    user.user_permissions.set(Permission.objects.filter(codename__in=codenames))
    client = Client()
    client.force_login(user)
    return client, user


def store(namespace, key, value):
    return DurableSetting.objects.create(
        namespace=namespace, key=key, value=json.dumps(value)
    )


def row_of(page, name):
    match = re.search(rf'<tr data-dict="{name}">(.*?)</tr>', page, re.S)
    assert match, page
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", match[1])).strip()


def log_change(user, setting, message):
    return LogEntry.objects.create(
        user_id=user.pk,
        content_type=ContentType.objects.get_for_model(DurableSetting),
        object_id=str(setting.pk),
        object_repr=str(setting),
        action_flag=CHANGE,
        change_message=message,
    )


# -- The admin page -------------------------------------------------------------


def test_the_changelist_links_to_the_status_page():
    client, _ = login(superuser=True)
    page = client.get(CHANGELIST).content.decode()
    assert f'href="{STATUS}"' in page


def test_each_dict_is_listed_with_backend_versions_and_health():
    store("features", "flag", True)
    client, _ = login(superuser=True)
    dicts["features"].sync()
    page = client.get(STATUS).content.decode()
    features = row_of(page, "features")
    version = DurableNamespace.objects.get(name="features").version
    assert features.startswith("features ModelDict ok")
    assert features.count(str(version)) == 2  # the store's and this process's
    assert "in sync" in features and "changed" in features
    memory = row_of(page, "memory")
    assert "SharedMemoryDict ok" in memory and "age unknown" in memory


def test_a_process_behind_its_store_says_so():
    dicts["features"]  # built and loaded before the change
    setting = store("features", "flag", True)
    # Changed behind this process's cache: only the database version moved.
    DurableSetting.objects.filter(pk=setting.pk).update(value="false")
    client, _ = login(superuser=True)
    page = client.get(STATUS).content.decode()
    assert "behind the store" in row_of(page, "features")


def test_undecodable_keys_are_named_without_their_values():
    with store_for("memory").lock:
        store_for("memory").values["broken"] = "{secret-ish not json"
        store_for("memory").changed()
    client, _ = login(superuser=True)
    page = client.get(STATUS).content.decode()
    assert "cannot decode: broken" in row_of(page, "memory")
    assert "secret-ish" not in page


def test_recent_changes_show_who_and_what_in_a_fixed_number_of_queries():
    client, user = login(superuser=True)
    setting = store("features", "flag", True)
    log_change(user, setting, "Changed features['flag']: false → true")
    client.get(STATUS)  # builds the dicts: their first load is not counted below
    with CaptureQueriesContext(connection) as one:
        page = client.get(STATUS).content.decode()
    assert "staff_super" in page and "Changed features[&#x27;flag&#x27;]" in page
    for number in range(30):
        log_change(user, setting, f"change {number}")
    with CaptureQueriesContext(connection) as many:
        page = client.get(STATUS).content.decode()
    assert len(many) == len(one)
    assert page.count("<td>staff_super</td>") == 20  # the latest 20 only
    assert "change 29" in page and "change 9" not in page


def test_view_only_staff_may_see_the_status_page():
    client, _ = login("view_durablesetting")
    assert client.get(STATUS).status_code == 200
    assert f'href="{STATUS}"' in client.get(CHANGELIST).content.decode()


def test_staff_without_the_view_permission_are_refused():
    client, _ = login("view_durablenamespace")
    assert client.get(STATUS).status_code == 403


def test_anonymous_users_are_sent_to_log_in():
    response = Client().get(STATUS)
    assert response.status_code == 302 and "/login/" in response["Location"]


# -- The health view ---------------------------------------------------------------


def test_health_refuses_anonymous_callers_without_a_token():
    response = Client().get("/healthz/")
    assert response.status_code == 403
    assert response.json() == {"status": "forbidden"}


def test_health_is_open_to_users_who_may_view_settings():
    client, _ = login("view_durablesetting")
    response = client.get("/healthz/")
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "ok"
    assert set(body["dicts"]) == {"features", "memory"}
    assert body["dicts"]["features"]["health"] == "ok"
    assert body["dicts"]["features"]["backend"] == "ModelDict"
    assert response["Cache-Control"].startswith("max-age=0")


@override_settings(DURABLEDICT_HEALTH_TOKEN="probe-token-123")
def test_health_takes_the_token_as_a_bearer_header_or_a_parameter():
    assert Client().get("/healthz/").status_code == 403
    wrong = Client().get("/healthz/", HTTP_AUTHORIZATION="Bearer nope")
    assert wrong.status_code == 403
    header = Client().get("/healthz/", HTTP_AUTHORIZATION="Bearer probe-token-123")
    assert header.status_code == 200
    assert Client().get("/healthz/?token=probe-token-123").status_code == 200


@override_settings(DURABLEDICT_HEALTH_TOKEN="probe-token-123")
def test_health_is_read_only():
    response = Client().post("/healthz/?token=probe-token-123")
    assert response.status_code == 405


@override_settings(DURABLEDICT_HEALTH_TOKEN="probe-token-123")
def test_health_holds_no_values_and_no_tokens():
    store("features", "flag", "a-stored-value")
    body = Client().get("/healthz/?token=probe-token-123").content.decode()
    assert "a-stored-value" not in body
    version = DurableNamespace.objects.get(name="features").version
    assert str(version) not in body
    assert "probe-token-123" not in body
