"""The admin's form for one DurableSetting: its value edited as JSON.

The form validates everything before anything is written: the namespace must be a
configured dict stored in DurableSetting rows, the text must be JSON, and the value
encoded with that dict's ENCODING must fit its MAX_VALUE_SIZE.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

from django import forms
from django.core.exceptions import ImproperlyConfigured, ValidationError
from django.db import router, transaction
from django.utils.text import Truncator
from django.utils.translation import gettext_lazy as _

from django_durabledict.conf import app_settings
from django_durabledict.encoding import EncoderError, JSONEncoding
from django_durabledict.models import DurableSetting


def setting_dicts() -> dict[str, dict[str, Any]]:
    """``{namespace: config}`` of every configured dict kept in DurableSetting rows
    (a ModelDict entry without ``MODEL``)."""
    from django_durabledict.backends.model import ModelDict

    found = {}
    for name in app_settings.names():
        try:
            config = app_settings.config(name)
        except ImproperlyConfigured:
            continue  # reported by the system checks
        backend = config["BACKEND"]
        if not (isinstance(backend, type) and issubclass(backend, ModelDict)):
            continue
        if not config.get("MODEL"):
            found[config["OPTIONS"].get("namespace", name)] = config
    return found


def decode(setting: DurableSetting) -> Any:
    """The value of *setting*, decoded with its dict's encoding (JSON for rows of
    namespaces that are not configured). Raises EncoderError."""
    config = setting_dicts().get(setting.namespace)
    encoding = config["ENCODING"] if config else JSONEncoding
    return encoding.decode(setting.value)


def as_json(value: Any, indent: int | None = None) -> str:
    """*value* as JSON text; ``repr`` for what JSON cannot hold (pickled sets...)."""
    try:
        return json.dumps(value, ensure_ascii=False, indent=indent)
    except (TypeError, ValueError):
        return repr(value)


def preview(setting: DurableSetting, length: int = 80) -> str:
    """A one-line, shortened JSON rendering of the stored value."""
    try:
        text = as_json(decode(setting))
    except EncoderError:
        text = _("(cannot be decoded) %(raw)s") % {"raw": setting.value}
    return Truncator(text).chars(length)


def fingerprint(stored: Any) -> str:
    """A short digest of a stored value, to notice that it changed."""
    return hashlib.sha256(str(stored).encode()).hexdigest()[:32]


class JSONTextField(forms.CharField):
    """A textarea whose text must be JSON; cleans to the parsed value."""

    def __init__(self, **kwargs: Any) -> None:
        attrs = {"rows": 10, "cols": 80, "spellcheck": "false"}
        kwargs.setdefault("widget", forms.Textarea(attrs=attrs))
        super().__init__(**kwargs)

    def clean(self, value: Any) -> Any:
        text = super().clean(value)  # required, stripped
        try:
            return json.loads(text)
        except ValueError as exc:
            raise ValidationError(
                _("Enter valid JSON: %(error)s"), code="invalid", params={"error": exc}
            ) from None


class DurableSettingForm(forms.ModelForm):
    """Edits one key. ``cleaned_data["value"]`` ends up as the *encoded* text, so
    the instance is saved as stored; ``new_value`` holds the decoded value."""

    value = JSONTextField(
        label=_("Value (JSON)"),
        help_text=_('JSON: true, 10, "text", [1, 2], {"a": 1} or null.'),
    )

    #: The stored value's fingerprint when the page was opened: a save over a
    #: change someone else made meanwhile is refused instead of overwriting it.
    original = forms.CharField(widget=forms.HiddenInput, required=False)

    class Meta:
        model = DurableSetting
        fields = ["namespace", "key", "value"]

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.old_value: Any = None
        if self.instance.pk is not None:
            self.initial["original"] = fingerprint(self.instance.value)
            try:
                self.old_value = decode(self.instance)
                self.initial["value"] = as_json(self.old_value, indent=2)
            except EncoderError:
                self.old_value = self.instance.value  # replaced by a valid value
        if "namespace" in self.fields:
            names = sorted(setting_dicts())
            self.fields["namespace"] = forms.ChoiceField(
                label=_("Dict"),
                choices=[("", "---------"), *((n, n) for n in names)],
                help_text=_("A dict from DURABLEDICTS stored in DurableSetting rows."),
            )

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean()
        namespace = cleaned.get("namespace", self.instance.namespace)
        if "value" not in cleaned or not namespace:
            return cleaned
        if self.instance.pk is not None and cleaned.get("original"):
            self._check_unchanged(cleaned["original"])
        config = setting_dicts().get(namespace)
        if config is None:
            raise ValidationError(
                _("%(namespace)s is not a configured dict stored in DurableSetting."),
                code="namespace",
                params={"namespace": namespace},
            )
        self.new_value = cleaned["value"]
        cleaned["value"] = self._encode(config, self.new_value)
        return cleaned

    def _check_unchanged(self, original: str) -> None:
        rows = DurableSetting.objects.filter(pk=self.instance.pk)
        if transaction.get_connection(
            router.db_for_write(DurableSetting)
        ).in_atomic_block:
            # The admin saves in this transaction: the lock holds until the save.
            rows = rows.select_for_update()
        current = rows.values_list("value", flat=True).first()
        if current is None:
            raise ValidationError(_("This key was deleted after you opened this page."))
        if fingerprint(current) != original:
            raise ValidationError(
                _(
                    "This key was changed by someone else after you opened this "
                    "page. Reload the page to see the new value, then edit again."
                ),
                code="conflict",
            )

    def _encode(self, config: dict[str, Any], value: Any) -> Any:
        try:
            return encode_checked(config, value)
        except ValidationError as exc:
            raise ValidationError({"value": exc.messages}) from None


def encode_checked(config: dict[str, Any], value: Any) -> Any:
    """*value* encoded with the dict's ENCODING; ValidationError if it cannot be,
    or if it is larger than the dict's MAX_VALUE_SIZE."""
    try:
        encoded = config["ENCODING"].encode(value)
    except EncoderError as exc:
        raise ValidationError(str(exc)) from None
    size = len(encoded.encode() if isinstance(encoded, str) else encoded)
    limit = config["MAX_VALUE_SIZE"]
    if limit is not None and size > limit:
        raise ValidationError(
            _(
                "The encoded value is %(size)d bytes; this dict allows "
                "%(limit)d (MAX_VALUE_SIZE)."
            )
            % {"size": size, "limit": limit}
        )
    return encoded
