"""A bulk edit of one DurableSetting namespace: its new contents as one JSON
object, the diff with what is stored, and the diff applied as one checked
changeset. The admin's view is in adminbulk.py.

The edit carries a digest of the values it started from; applying refuses when
the namespace no longer holds them, and applies through a checked changeset that
has read every key, so a write landing between that comparison and the commit
refuses it too.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from typing import Any

from django import forms
from django.core.exceptions import ImproperlyConfigured, ValidationError
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from django_durabledict.changeset import ChangesetConflict
from django_durabledict.conf import app_settings
from django_durabledict.forms import (
    JSONTextField,
    as_json,
    encode_checked,
    setting_dicts,
)
from django_durabledict.models import KEY_MAX_LENGTH

CONFLICT = _(
    "The values of %(namespace)s changed after you opened this page; nothing was "
    "saved. The page now shows the stored values: make your edit again."
)


def digest(values: dict[str, Any]) -> str:
    """A digest of a namespace's decoded values, to notice that they changed."""
    return hashlib.sha256(_canonical(values).encode()).hexdigest()


def alias_for(namespace: str) -> str | None:
    """The DURABLEDICTS name of the dict stored in DurableSetting *namespace*."""
    from django_durabledict.backends.model import ModelDict

    for name in app_settings.names():
        try:
            config = app_settings.config(name)
        except ImproperlyConfigured:
            continue  # reported by the system checks
        backend = config["BACKEND"]
        if (
            isinstance(backend, type)
            and issubclass(backend, ModelDict)
            and not config.get("MODEL")
            and config["OPTIONS"].get("namespace", name) == namespace
        ):
            return name
    return None


def _canonical(value: Any) -> str:
    return json.dumps(value, sort_keys=True, ensure_ascii=False, default=repr)


@dataclass
class Diff:
    """What an edit changes: key -> new value, key -> (old, new), key -> old."""

    added: dict[str, Any] = field(default_factory=dict)
    changed: dict[str, tuple[Any, Any]] = field(default_factory=dict)
    removed: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def between(cls, old: dict[str, Any], new: dict[str, Any]) -> Diff:
        diff = cls()
        for key in sorted(new):
            if key not in old:
                diff.added[key] = new[key]
            elif _canonical(old[key]) != _canonical(new[key]):
                diff.changed[key] = (old[key], new[key])
        diff.removed = {key: old[key] for key in sorted(old) if key not in new}
        return diff

    def __bool__(self) -> bool:
        return bool(self.added or self.changed or self.removed)

    def rows(self) -> list[dict[str, str]]:
        """One row per key, for the preview table."""
        rows = [
            {"kind": "added", "key": k, "old": "", "new": as_json(v)}
            for k, v in self.added.items()
        ]
        rows += [
            {"kind": "changed", "key": k, "old": as_json(o), "new": as_json(n)}
            for k, (o, n) in self.changed.items()
        ]
        rows += [
            {"kind": "removed", "key": k, "old": as_json(v), "new": ""}
            for k, v in self.removed.items()
        ]
        return rows


class BulkEditForm(forms.Form):
    """The namespace's new contents as one JSON object, validated as the
    one-key form validates each value."""

    namespace = forms.CharField(widget=forms.HiddenInput)
    base = forms.CharField(widget=forms.HiddenInput)
    values = JSONTextField(
        label=_("Values (one JSON object)"),
        help_text=_('Every stored key of the dict, e.g. {"flag": true, "limit": 10}.'),
    )

    def clean_namespace(self) -> str:
        namespace = self.cleaned_data["namespace"]
        if namespace not in setting_dicts() or alias_for(namespace) is None:
            raise ValidationError(
                _("%(namespace)s is not a configured dict stored in DurableSetting."),
                params={"namespace": namespace},
            )
        return namespace

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean()
        values, namespace = cleaned.get("values"), cleaned.get("namespace")
        if values is None or namespace is None:
            return cleaned
        if not isinstance(values, dict):
            raise ValidationError({"values": _("Enter one JSON object: {...}.")})
        config = setting_dicts()[namespace]
        errors = []
        for key, value in values.items():
            if not key or len(key) > KEY_MAX_LENGTH:
                errors.append(
                    gettext("Key %(key)r must be 1 to %(max)d characters long.")
                    % {"key": key, "max": KEY_MAX_LENGTH}
                )
                continue
            try:
                encode_checked(config, value)
            except ValidationError as exc:
                errors += [f"{key!r}: {message}" for message in exc.messages]
        if errors:
            raise ValidationError({"values": errors})
        return cleaned


def refused_by_permissions(admin: Any, request: Any, diff: Diff) -> list[str]:
    """One sentence per kind of change in *diff* the user may not make."""
    refused = []
    if diff.added and not admin.has_add_permission(request):
        refused.append(gettext("You may not add keys: %s") % ", ".join(diff.added))
    if diff.changed and not admin.has_change_permission(request):
        refused.append(gettext("You may not change keys: %s") % ", ".join(diff.changed))
    if diff.removed and not admin.has_delete_permission(request):
        refused.append(gettext("You may not remove keys: %s") % ", ".join(diff.removed))
    return refused


def apply(durable: Any, base: str, new: dict[str, Any], check_diff: Any) -> Diff:
    """Apply *new* as the whole contents of *durable*, as one checked changeset.

    ``ChangesetConflict`` when the stored values are no longer those whose
    digest is *base*, or change before the changeset commits. *check_diff(diff)*
    may raise to refuse the diff (permissions) before anything is written."""
    with durable.changeset(check=True) as change:
        current = change.stored()  # reads every key: any change refuses it
        if digest(current) != base:
            raise ChangesetConflict(durable, [], gettext("changed since the preview"))
        diff = Diff.between(current, new)
        check_diff(diff)
        for key in diff.removed:
            del change[key]
        for key in [*diff.added, *diff.changed]:
            change[key] = new[key]
    return diff


def history_message(namespace: str, diff: Diff, short: Any) -> str:
    """The LogEntry message of one bulk edit, in the one-key entries' words."""
    label = lambda key: f"{namespace}[{key!r}]"  # noqa: E731
    parts = [
        gettext("Added %(key)s = %(new)s") % {"key": label(k), "new": short(v)}
        for k, v in diff.added.items()
    ]
    parts += [
        gettext("Changed %(key)s: %(old)s → %(new)s")
        % {"key": label(k), "old": short(o), "new": short(n)}
        for k, (o, n) in diff.changed.items()
    ]
    parts += [
        gettext("Deleted %(key)s (was %(old)s)") % {"key": label(k), "old": short(v)}
        for k, v in diff.removed.items()
    ]
    heading = gettext("Bulk edit of %(namespace)s, applied as one change") % {
        "namespace": namespace
    }
    return f"{heading}: " + "; ".join(parts)
