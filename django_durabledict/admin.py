"""The admin for DurableSetting rows: the values of every ModelDict on them.

Every write goes through DurableSetting's ``save()``/``delete()`` or its manager's
queryset, which bump the namespace's version in the writer's transaction and
publish the hint after commit; no action here writes any other way. Django's
permissions decide who may do what: view-only staff get read-only pages, and the
delete action requires the delete permission.
"""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.contrib.admin.actions import delete_selected
from django.contrib.admin.models import DELETION, LogEntry
from django.contrib.contenttypes.models import ContentType
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.http import urlencode
from django.utils.text import Truncator
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from django_durabledict import adminstatus
from django_durabledict.encoding import EncoderError
from django_durabledict.forms import (
    DurableSettingForm,
    as_json,
    decode,
    preview,
    setting_dicts,
)
from django_durabledict.models import DurableSetting

JSON_TYPES = {
    bool: "boolean",
    int: "integer",
    float: "number",
    str: "string",
    list: "array",
    dict: "object",
    type(None): "null",
}

#: Longest rendering of a value in a history message.
HISTORY_VALUE_LENGTH = 200


def _label(setting: DurableSetting) -> str:
    return f"{setting.namespace}[{setting.key!r}]"


def _short(value: Any) -> str:
    return Truncator(as_json(value)).chars(HISTORY_VALUE_LENGTH)


@admin.register(DurableSetting)
class DurableSettingAdmin(admin.ModelAdmin):
    """List, search, edit (as JSON) and delete the keys of every ModelDict."""

    form = DurableSettingForm
    list_display = ["namespace", "key", "value_preview", "value_type", "updated"]
    list_display_links = ["key"]
    list_filter = ["namespace"]
    search_fields = ["key"]
    ordering = ["namespace", "key"]
    sortable_by = ["namespace", "key", "updated"]
    list_per_page = 100
    # No COUNT(*) of the whole table next to a filtered result: large tables stay fast.
    show_full_result_count = False
    actions = ["delete_selected_settings"]
    change_list_template = "admin/django_durabledict/durablesetting/change_list.html"

    # -- Columns --------------------------------------------------------------

    @admin.display(description=_("value"))
    def value_preview(self, obj: DurableSetting) -> str:
        return preview(obj)

    @admin.display(description=_("type"))
    def value_type(self, obj: DurableSetting) -> str:
        try:
            value = decode(obj)
        except EncoderError:
            return gettext("cannot be decoded")
        return JSON_TYPES.get(type(value), type(value).__name__)

    # -- Forms: namespace and key are fixed once a key exists -------------------

    def get_fields(self, request: HttpRequest, obj: Any = None) -> list[str]:
        if obj is None:
            return ["namespace", "key", "value"]
        if self.has_change_permission(request, obj):
            return ["namespace", "key", "value", "original", "created", "updated"]
        return ["namespace", "key", "value", "created", "updated"]

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> list[str]:
        if obj is None:
            return []
        return ["namespace", "key", "created", "updated"]

    # -- History: name the key, show old -> new ---------------------------------

    def construct_change_message(
        self, request: HttpRequest, form: Any, formsets: Any, add: bool = False
    ) -> str:
        setting = form.instance
        new = _short(getattr(form, "new_value", None))
        if add:
            return gettext("Added %(key)s = %(new)s") % {
                "key": _label(setting),
                "new": new,
            }
        return gettext("Changed %(key)s: %(old)s → %(new)s") % {
            "key": _label(setting),
            "old": _short(form.old_value),
            "new": new,
        }

    def log_deletions(self, request: HttpRequest, queryset: Any) -> list[LogEntry]:
        """One LogEntry per deleted key, with the value it had (Django >= 5.1)."""
        return [self._log_deletion(request, setting) for setting in queryset]

    def log_deletion(self, request: HttpRequest, obj: Any, object_repr: str) -> Any:
        """Django 4.2 and 5.0 call this one per deleted object."""
        return self._log_deletion(request, obj)

    def _log_deletion(self, request: HttpRequest, setting: DurableSetting) -> LogEntry:
        try:
            old = _short(decode(setting))
        except EncoderError:
            old = Truncator(setting.value).chars(HISTORY_VALUE_LENGTH)
        return LogEntry.objects.create(
            user_id=request.user.pk,
            content_type=ContentType.objects.get_for_model(setting),
            object_id=str(setting.pk),
            object_repr=Truncator(str(setting)).chars(200),
            action_flag=DELETION,
            change_message=gettext("Deleted %(key)s (was %(old)s)")
            % {"key": _label(setting), "old": old},
        )

    # -- Actions ----------------------------------------------------------------

    def get_actions(self, request: HttpRequest) -> dict[str, Any]:
        actions = super().get_actions(request)
        # Replaced by delete_selected_settings, which logs each key's old value.
        actions.pop("delete_selected", None)
        return actions

    @admin.action(permissions=["delete"], description=_("Delete selected keys"))
    def delete_selected_settings(
        self, request: HttpRequest, queryset: Any
    ) -> HttpResponse | None:
        # Django's confirmation page; it calls log_deletions() and then
        # delete_queryset() below.
        return delete_selected(self, request, queryset)

    def delete_queryset(self, request: HttpRequest, queryset: Any) -> None:
        # DurableSetting's queryset delete() bumps every namespace it touches, in
        # one transaction with the delete. Stated here so no override loses it.
        DurableSetting.objects.filter(pk__in=[s.pk for s in queryset]).delete()

    # -- Extra pages: the status page and the bulk edit ---------------------------

    def get_urls(self) -> list[Any]:
        prefix = f"{self.opts.app_label}_{self.opts.model_name}"
        wrap = self.admin_site.admin_view
        # Before the default URLs, whose "<path:object_id>/" would match first.
        return [
            path("status/", wrap(self.status_view), name=f"{prefix}_status"),
            path("bulk-edit/", wrap(self.bulk_edit_view), name=f"{prefix}_bulk_edit"),
            *super().get_urls(),
        ]

    # -- The status page: every dict's freshness, and who changed what ----------

    def status_view(self, request: HttpRequest) -> HttpResponse:
        """Each configured dict in this worker and in its store; recent changes.
        Open to whoever may view DurableSetting rows."""
        if not self.has_view_permission(request):
            raise PermissionDenied
        context = {
            **self.admin_site.each_context(request),
            "opts": self.opts,
            "title": gettext("Durable dicts status"),
            "dict_rows": adminstatus.dict_rows(),
            "changes": adminstatus.recent_changes(),
        }
        return TemplateResponse(
            request, "admin/django_durabledict/durablesetting/status.html", context
        )

    # -- Bulk edit: a whole namespace as one JSON object, one change -------------

    def has_bulk_edit_permission(self, request: HttpRequest) -> bool:
        """Any of add, change, delete; each kind of edit then needs its own."""
        return any(
            check(request)
            for check in (
                self.has_add_permission,
                self.has_change_permission,
                self.has_delete_permission,
            )
        )

    def bulk_edit_view(self, request: HttpRequest) -> HttpResponse:
        """Edit, preview and apply a namespace's values as one changeset (see
        adminbulk.py)."""
        from django_durabledict.adminbulk import BulkEdit

        if not self.has_bulk_edit_permission(request):
            raise PermissionDenied
        return BulkEdit(self, request).respond()

    # -- Keys declared in DEFAULTS but not stored --------------------------------

    def changelist_view(
        self, request: HttpRequest, extra_context: dict[str, Any] | None = None
    ) -> HttpResponse:
        extra_context = {
            **(extra_context or {}),
            "unstored_defaults": self.unstored_defaults(request),
            "bulk_edit_url": self._bulk_edit_url(request),
        }
        return super().changelist_view(request, extra_context)

    def _bulk_edit_url(self, request: HttpRequest) -> str | None:
        if not self.has_bulk_edit_permission(request):
            return None
        url = reverse("admin:django_durabledict_durablesetting_bulk_edit")
        namespace = request.GET.get("namespace__exact")
        return f"{url}?{urlencode({'namespace': namespace})}" if namespace else url

    def unstored_defaults(self, request: HttpRequest) -> list[dict[str, Any]]:
        """Rows for the DEFAULTS keys not stored yet, each with a link that opens
        the add form filled in (for users who may add). One query per dict."""
        wanted = request.GET.get("namespace__exact")
        search = request.GET.get("q", "").lower()
        can_add = self.has_add_permission(request)
        rows = []
        for name, config in setting_dicts().items():
            defaults = {str(k): v for k, v in config["DEFAULTS"].items()}
            if not defaults or (wanted and wanted != name):
                continue
            stored = set(
                DurableSetting.objects.namespace(name)
                .filter(key__in=list(defaults))
                .values_list("key", flat=True)
            )
            for key, value in defaults.items():
                if key in stored or search not in key.lower():
                    continue
                rows.append(self._default_row(name, key, value, can_add))
        return rows

    def _default_row(self, name: str, key: str, value: Any, can_add: bool) -> dict:
        url = None
        if can_add:
            query = urlencode({"namespace": name, "key": key, "value": as_json(value)})
            url = f"{reverse('admin:django_durabledict_durablesetting_add')}?{query}"
        return {"namespace": name, "key": key, "value": _short(value), "url": url}
