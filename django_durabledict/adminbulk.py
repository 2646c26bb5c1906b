"""The admin's bulk edit: a whole namespace edited as one JSON object, applied as
one changeset (one transaction, one version bump), with a diff preview first.

Three steps, each a POST of the same form: *edit* (the textarea, filled with the
namespace's stored values), *preview* (what will be added, changed and removed),
*confirm* (applied). The form carries a digest of the values the edit started
from; preview and confirm refuse when the namespace no longer holds them, and
confirm applies through a checked changeset that has read every key, so a write
landing between that last comparison and the commit refuses it too. Nothing a
user could not do key by key is allowed: adding needs the add permission,
changing the change permission, removing the delete permission.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from typing import Any

from django import forms
from django.core.exceptions import (
    ImproperlyConfigured,
    PermissionDenied,
    ValidationError,
)
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


class _Refused(Exception):
    """The diff holds changes the user may not make."""


class BulkEdit:
    """One request to the bulk edit view of *admin*: the edit, preview or
    confirm step (see the module docstring)."""

    template = "admin/django_durabledict/durablesetting/bulk_edit.html"

    def __init__(self, admin: Any, request: Any) -> None:
        self.admin, self.request = admin, request
        data = request.POST if request.method == "POST" else request.GET
        self.namespace = data.get("namespace") or ""

    def respond(self) -> Any:
        alias = alias_for(self.namespace) if self.namespace else None
        if alias is None:
            return self.render("choose", choices=sorted(setting_dicts()))
        self.durable = _registry()[alias]
        if self.request.method != "POST":
            return self.edit()
        form = BulkEditForm(self.request.POST)
        if not form.is_valid():
            return self.render("edit", form=form)
        if "confirm" in self.request.POST:
            return self.confirm(form)
        return self.preview(form)

    def edit(self, error: Any = None) -> Any:
        current = self.current()
        form = BulkEditForm(
            initial={
                "namespace": self.namespace,
                "base": digest(current),
                "values": json.dumps(current, indent=2, sort_keys=True, default=repr),
            }
        )
        return self.render("edit", form=form, conflict=error)

    def preview(self, form: BulkEditForm) -> Any:
        current = self.current()
        if digest(current) != form.cleaned_data["base"]:
            return self.edit(CONFLICT % {"namespace": self.namespace})
        diff = Diff.between(current, form.cleaned_data["values"])
        refused = refused_by_permissions(self.admin, self.request, diff)
        return self.render(
            "preview", form=form, diff=diff, rows=diff.rows(), refused=refused
        )

    def confirm(self, form: BulkEditForm) -> Any:
        from django.contrib import messages
        from django.http import HttpResponseRedirect
        from django.urls import reverse
        from django.utils.http import urlencode

        def check_diff(diff: Diff) -> None:
            if refused_by_permissions(self.admin, self.request, diff):
                raise _Refused

        try:
            diff = apply(
                self.durable,
                form.cleaned_data["base"],
                form.cleaned_data["values"],
                check_diff,
            )
        except ChangesetConflict:
            return self.edit(CONFLICT % {"namespace": self.namespace})
        except _Refused:
            # The preview offers no confirm button then: a forged confirm.
            raise PermissionDenied from None
        if diff:
            self.log(diff)
            messages.success(
                self.request,
                gettext("%(namespace)s: %(count)d keys changed as one change.")
                % {"namespace": self.namespace, "count": len(diff.rows())},
            )
        else:
            messages.info(self.request, gettext("Nothing to change."))
        url = reverse("admin:django_durabledict_durablesetting_changelist")
        query = urlencode({"namespace__exact": self.namespace})
        return HttpResponseRedirect(f"{url}?{query}")

    def current(self) -> dict[str, Any]:
        change = self.durable.changeset()
        try:
            return change.stored()
        finally:
            change.discard()

    def log(self, diff: Diff) -> Any:
        from django.contrib.admin.models import CHANGE, LogEntry
        from django.contrib.contenttypes.models import ContentType

        from django_durabledict.admin import _short
        from django_durabledict.models import DurableSetting

        return LogEntry.objects.create(
            user_id=self.request.user.pk,
            content_type=ContentType.objects.get_for_model(DurableSetting),
            object_id=None,
            object_repr=self.namespace[:200],
            action_flag=CHANGE,
            change_message=history_message(self.namespace, diff, _short),
        )

    def render(self, step: str, **context: Any) -> Any:
        from django.template.response import TemplateResponse

        opts = self.admin.model._meta
        context = {
            **self.admin.admin_site.each_context(self.request),
            "opts": opts,
            "title": gettext("Edit %(namespace)s as one change")
            % {"namespace": self.namespace or gettext("a dict")},
            "step": step,
            "namespace": self.namespace,
            **context,
        }
        return TemplateResponse(self.request, self.template, context)


def _registry() -> Any:
    from django_durabledict.registry import dicts

    return dicts
