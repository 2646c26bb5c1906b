"""The admin's bulk edit view: a whole namespace edited as one JSON object,
applied as one changeset (one transaction, one version bump), with a diff
preview first (the edit itself is in bulkedit.py).

Three steps, each a POST of the same form: *edit* (the textarea, filled with the
namespace's stored values), *preview* (what will be added, changed and removed),
*confirm* (applied). Preview and confirm refuse when the namespace changed since
the edit began. Nothing a user could not do key by key is allowed: adding needs
the add permission, changing the change permission, removing the delete
permission.
"""

from __future__ import annotations

import json
from typing import Any

from django.core.exceptions import PermissionDenied
from django.utils.translation import gettext

from django_durabledict.bulkedit import (
    CONFLICT,
    BulkEditForm,
    Diff,
    alias_for,
    apply,
    digest,
    history_message,
    refused_by_permissions,
)
from django_durabledict.changeset import ChangesetConflict
from django_durabledict.forms import setting_dicts


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
        if not form.is_valid() or "back" in self.request.POST:
            return self.render("edit", form=form)  # the user's text, kept
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
