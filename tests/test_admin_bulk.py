"""The admin's bulk edit: a namespace edited as one JSON object, previewed as a
diff, applied as one changeset (one version bump) with one history entry."""

import json
import re

import pytest
from django.contrib.admin.models import CHANGE, LogEntry

from django_durabledict.bulkedit import digest
from django_durabledict.models import DurableSetting
from tests.test_admin import (  # noqa: F401  (configured: the autouse settings)
    URL,
    committing,
    configured,
    login,
    store,
    version,
)

pytestmark = pytest.mark.django_db
BULK = f"{URL}bulk-edit/"


def stored(namespace):
    rows = DurableSetting.objects.namespace(namespace).values_list("key", "value")
    return {key: json.loads(value) for key, value in rows}


def opened(client, namespace):
    """The edit page's form fields, as a browser would post them back."""
    page = client.get(BULK, {"namespace": namespace}).content.decode()
    base = re.search(r'name="base" value="([0-9a-f]+)"', page).group(1)
    return {"namespace": namespace, "base": base}


def post(client, fields, values, step="preview"):
    return client.post(BULK, {**fields, "values": json.dumps(values), step: "1"})


@pytest.fixture
def features():
    store("features", "flag", False)
    store("features", "limit", 5)
    store("features", "old", 1)


@pytest.fixture
def admin_client():
    return login(superuser=True)


def test_changelist_links_to_it_for_editors_only(admin_client):
    page = admin_client.get(URL, {"namespace__exact": "features"}).content.decode()
    assert f'href="{BULK}?namespace=features"' in page
    viewer = login("view_durablesetting")
    assert "durabledict-bulk-edit-link" not in viewer.get(URL).content.decode()
    assert viewer.get(BULK, {"namespace": "features"}).status_code == 403


def test_without_a_namespace_it_lists_the_dicts(admin_client):
    page = admin_client.get(BULK).content.decode()
    choices = re.findall(r'\?namespace=([\w-]+)"', page)
    assert choices == ["features", "limits", "other_ns"]  # DurableSetting dicts only


def test_edit_shows_the_stored_values_as_one_object(admin_client, features):
    page = admin_client.get(BULK, {"namespace": "features"}).content.decode()
    text = re.search(r"<textarea[^>]*>(.*?)</textarea>", page, re.S).group(1)
    assert json.loads(text.replace("&quot;", '"')) == stored("features")
    assert "beta" not in text  # DEFAULTS are not stored


@committing
def test_preview_then_confirm_applies_one_change_with_one_history_entry(
    admin_client, features
):
    fields = opened(admin_client, "features")
    new = {"flag": True, "limit": 5, "added": [1, {"x": None}]}
    preview = post(admin_client, fields, new).content.decode()
    rows = re.findall(
        r'<tr class="durabledict-(\w+)"><td>\w+</td><td>(\w+)</td>', preview
    )
    assert rows == [("added", "added"), ("changed", "flag"), ("removed", "old")]
    assert "Apply as one change" in preview
    assert stored("features") == {"flag": False, "limit": 5, "old": 1}  # not yet
    before = version("features")
    response = post(admin_client, fields, new, step="confirm")
    assert response.status_code == 302
    assert response["Location"].endswith("?namespace__exact=features")
    assert stored("features") == new
    assert version("features") == before + 1  # one change
    (entry,) = LogEntry.objects.all()
    assert entry.action_flag == CHANGE and entry.object_repr == "features"
    assert entry.get_change_message() == (
        "Bulk edit of features, applied as one change: "
        "Added features['added'] = [1, {\"x\": null}]; "
        "Changed features['flag']: false → true; "
        "Deleted features['old'] (was 1)"
    )


@committing
def test_a_change_between_preview_and_confirm_is_refused(admin_client, features):
    fields = opened(admin_client, "features")
    new = {"flag": True, "limit": 5, "old": 1}
    post(admin_client, fields, new)
    DurableSetting.objects.filter(namespace="features", key="limit").update(
        value="6"
    )  # someone else, meanwhile
    before = version("features")
    page = post(admin_client, fields, new, step="confirm").content.decode()
    assert "changed after you opened this page" in page
    assert stored("features") == {"flag": False, "limit": 6, "old": 1}
    assert version("features") == before and not LogEntry.objects.exists()
    assert digest(stored("features")) in page  # the page now starts from them
    # ... and also at the preview step, before anything is shown as a diff.
    page = post(admin_client, fields, new).content.decode()
    assert "changed after you opened this page" in page


@committing
def test_the_changeset_refuses_a_write_landing_after_its_comparison(
    admin_client, features, monkeypatch
):
    from django_durabledict import bulkedit

    fields = opened(admin_client, "features")
    original = bulkedit.Diff.between

    def between_then_another_write(old, new):
        DurableSetting.objects.filter(namespace="features", key="old").delete()
        return original(old, new)

    monkeypatch.setattr(bulkedit.Diff, "between", between_then_another_write)
    page = post(
        admin_client, fields, {"flag": True, "limit": 5, "old": 1}, step="confirm"
    ).content.decode()
    assert "changed after you opened this page" in page
    assert stored("features") == {"flag": False, "limit": 5}


def test_each_kind_of_edit_needs_its_permission(features):
    editor = login("view_durablesetting", "change_durablesetting")
    fields = opened(editor, "features")
    page = post(editor, fields, {"flag": True, "limit": 5}).content.decode()
    assert "You may not remove keys: old" in page
    assert "Apply as one change" not in page
    forged = post(editor, fields, {"flag": True, "limit": 5}, step="confirm")
    assert forged.status_code == 403
    assert stored("features") == {"flag": False, "limit": 5, "old": 1}
    adder = login("view_durablesetting", "add_durablesetting")
    page = post(adder, opened(adder, "features"), {"flag": True, "limit": 5, "old": 1})
    assert "You may not change keys: flag" in page.content.decode()
    response = post(
        editor, fields, {"flag": True, "limit": 5, "old": 1}, step="confirm"
    )
    assert response.status_code == 302 and stored("features")["flag"] is True


@pytest.mark.parametrize(
    ("namespace", "text", "error"),
    [
        ("features", "{not json", "Enter valid JSON"),
        ("features", "[1, 2]", "Enter one JSON object"),
        ("features", '{"k": NaN}', "&#x27;k&#x27;: JSONEncoding cannot encode"),
        ("limits", '{"max": "' + "x" * 30 + '"}', "this dict allows 20"),
        ("features", '{"": 1}', "must be 1 to 255 characters"),
    ],
)
def test_invalid_edits_are_form_errors_and_write_nothing(
    admin_client, features, namespace, text, error
):
    fields = opened(admin_client, namespace)
    before = stored(namespace)
    for step in ("preview", "confirm"):
        response = admin_client.post(BULK, {**fields, "values": text, step: "1"})
        assert error in response.content.decode()
    assert stored(namespace) == before


def test_a_dict_with_its_own_namespace_name(admin_client):
    store("other_ns", "k", 1)
    fields = opened(admin_client, "other_ns")
    response = post(admin_client, fields, {"k": 2}, step="confirm")
    assert response.status_code == 302 and stored("other_ns") == {"k": 2}


def test_edit_again_keeps_the_text_and_the_base(admin_client, features):
    fields = opened(admin_client, "features")
    new = {"flag": True, "limit": 5}
    assert "Edit again" in post(admin_client, fields, new).content.decode()
    page = post(admin_client, fields, new, step="back").content.decode()
    text = re.search(r"<textarea[^>]*>(.*?)</textarea>", page, re.S).group(1)
    assert json.loads(text.replace("&quot;", '"')) == new
    assert f'value="{fields["base"]}"' in page
    assert stored("features") == {"flag": False, "limit": 5, "old": 1}
