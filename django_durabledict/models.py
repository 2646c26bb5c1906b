"""DurableSetting: the rows behind ``ModelDict``, one namespace per dict.

Every change to a namespace also bumps that namespace's ``DurableNamespace.version``
*inside the writer's transaction*. That row is the
authoritative version: the cache key readers poll is only a hint published after
commit, and a reader that missed the hint (a writer killed before its on-commit
hook, a cache restart) compares this column every few seconds (the backstop, see
``backends/model.py``).

Nothing that writes through the ORM bypasses the bump: ``save()`` and ``delete()``
bump, ``post_save``/``post_delete`` bump (for code paths that skip ``save()``), and
the manager's queryset bumps once per ``update()``/``delete()``/``bulk_create()``/
``bulk_update()`` call. Raw SQL is the only way around it.
"""

from __future__ import annotations

from typing import Any

from django.db import models, router, transaction
from django.db.models.signals import post_delete, post_save
from django.dispatch import receiver
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from django_durabledict import history, versioning
from django_durabledict.backends.cacheops import fresh_token
from django_durabledict.history import DurableTombstoneManager
from django_durabledict.managers import DurableNamespaceManager, DurableSettingManager

# MariaDB and MySQL limit an InnoDB index key to 3072 bytes (DYNAMIC rows, the default
# on every version Django supports) and utf8mb4 reserves 4 bytes per character, so
# the unique (namespace, key) index may hold at most 768 characters in all: 100 + 255
# = 355 characters (1420 bytes) fits. MyISAM/Aria tables (1000 bytes) do not: keep
# these tables on InnoDB, the default engine.
NAMESPACE_MAX_LENGTH = 100
KEY_MAX_LENGTH = 255


def new_version() -> int:
    """A fresh random 62-bit version: never a small number (see DESIGN.md rule 4).

    The top bit of the 62 is always set, so a new counter can never be one that an
    old counter climbed to from a small start."""
    return fresh_token()


class DurableNamespace(models.Model):
    """The authoritative version of one namespace (one dict).

    Created on the first write to the namespace at a random 62-bit version, and
    bumped by one in the transaction of every later write (once per transaction).
    Only ever compared for equality."""

    name = models.CharField(_("name"), max_length=NAMESPACE_MAX_LENGTH, unique=True)
    version = models.BigIntegerField(_("version"), default=new_version)
    updated = models.DateTimeField(_("updated"), auto_now=True)
    #: The history horizon: tombstones of deletes at or below this version may be
    #: gone, so a snapshot loaded at an older version must reload in full. Set to
    #: the first version when the row is created (no history before it), raised by
    #: pruning; ``NULL`` (rows from before this column) means "unknown".
    pruned = models.BigIntegerField(_("pruned up to"), null=True, editable=False)

    objects = DurableNamespaceManager()

    class Meta:
        verbose_name = _("durable namespace")
        verbose_name_plural = _("durable namespaces")

    def __str__(self) -> str:
        return self.name

    def natural_key(self) -> tuple[str]:
        return (self.name,)


class DurableSetting(models.Model):
    """One key of one namespace, with its encoded value (JSON text by default)."""

    namespace = models.CharField(
        _("namespace"),
        max_length=NAMESPACE_MAX_LENGTH,
        help_text=_("The dict this key belongs to."),
    )
    key = models.CharField(_("key"), max_length=KEY_MAX_LENGTH)
    value = models.TextField(
        _("value"),
        help_text=_("The encoded value: JSON text by default."),
    )
    created = models.DateTimeField(_("created"), auto_now_add=True)
    updated = models.DateTimeField(_("updated"), auto_now=True)
    #: The namespace's version at the row's last change, so that a sync reads only
    #: the rows changed since its snapshot. ``NULL`` on rows last written before
    #: this column existed: those are in every snapshot loaded since.
    version = models.BigIntegerField(_("version"), null=True, editable=False)

    objects = DurableSettingManager()

    class Meta:
        verbose_name = _("durable setting")
        verbose_name_plural = _("durable settings")
        # Related-object code paths use the base manager: make it the bumping one.
        base_manager_name = "objects"
        constraints = [
            # Its index (namespace first) also serves every per-namespace query.
            models.UniqueConstraint(
                fields=["namespace", "key"], name="durabledict_setting_unique_key"
            )
        ]
        indexes = [
            # "What changed recently in this namespace", for the admin and dumps.
            models.Index(
                fields=["namespace", "updated"], name="durabledict_setting_updated"
            ),
            # "What changed since version V", for incremental syncs.
            models.Index(
                fields=["namespace", "version"], name="durabledict_setting_version"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.namespace}: {self.key}"

    def save(self, *args: Any, **kwargs: Any) -> None:
        using = kwargs.get("using") or router.db_for_write(type(self), instance=self)
        # The version is bumped *before* the row is written, in the same
        # transaction: every writer of a namespace locks its version row first,
        # so two transactions writing several keys cannot deadlock on each other.
        with transaction.atomic(using=using, savepoint=False):
            versions = versioning.versions(
                versioning.record_change(self._namespaces(), using)
            )
            self.version = versions[self.namespace]
            if kwargs.get("update_fields"):
                kwargs["update_fields"] = {*kwargs["update_fields"], "version"}
            loaded = self._loaded_pair()
            if loaded is not None and loaded != (self.namespace, self.key):
                history.removed(using, [loaded], versions)  # moved away from there
            super().save(*args, **kwargs)
        self._loaded_namespace, self._loaded_key = self.namespace, self.key

    save.alters_data = True

    def delete(self, using: str | None = None, keep_parents: bool = False) -> Any:
        using = using or router.db_for_write(type(self), instance=self)
        with transaction.atomic(using=using, savepoint=False):
            versioning.record_change(self._namespaces(), using)
            return super().delete(using=using, keep_parents=keep_parents)

    delete.alters_data = True

    def natural_key(self) -> tuple[str, str]:
        return (self.namespace, self.key)

    @classmethod
    def from_db(cls, db: Any, field_names: Any, values: Any) -> DurableSetting:
        instance = super().from_db(db, field_names, values)
        # Remember where the row was, so moving it to another namespace bumps both.
        instance._loaded_namespace = instance.__dict__.get("namespace")
        instance._loaded_key = instance.__dict__.get("key")
        return instance

    def _namespaces(self) -> set[str]:
        loaded = getattr(self, "_loaded_namespace", None)
        return {self.namespace} | ({loaded} if loaded else set())

    def _loaded_pair(self) -> tuple[str, str] | None:
        namespace = getattr(self, "_loaded_namespace", None)
        key = getattr(self, "_loaded_key", None)
        return None if namespace is None or key is None else (namespace, key)


class DurableTombstone(models.Model):
    """A key deleted from a namespace, and the namespace version of the delete.

    Written by every delete of a ``DurableSetting`` row (and by moving a row to
    another namespace or key), so that an incremental sync learns of the delete;
    pruned after ``TOMBSTONE_MAX_AGE`` seconds (see ``history.py``). A tombstone
    of a key that exists again is harmless: the row is newer."""

    namespace = models.CharField(_("namespace"), max_length=NAMESPACE_MAX_LENGTH)
    key = models.CharField(_("key"), max_length=KEY_MAX_LENGTH)
    version = models.BigIntegerField(_("version"))
    deleted = models.DateTimeField(_("deleted"), default=timezone.now)

    objects = DurableTombstoneManager()

    class Meta:
        verbose_name = _("durable setting tombstone")
        verbose_name_plural = _("durable setting tombstones")
        constraints = [
            models.UniqueConstraint(
                fields=["namespace", "key"], name="durabledict_tombstone_unique_key"
            )
        ]
        indexes = [
            models.Index(
                fields=["namespace", "version"], name="durabledict_tombstone_version"
            )
        ]

    def __str__(self) -> str:
        return f"{self.namespace}: {self.key} (deleted)"


# Safety net for code paths that change rows without DurableSetting.save()/delete()
# (a queryset delete through a plain manager, fixtures, other apps' helpers). Inside
# the transactions above they find the change already recorded and cost nothing.
@receiver(post_save, sender=DurableSetting, dispatch_uid="durabledict_setting_saved")
def _record_save(sender: Any, instance: DurableSetting, using: str, **kwargs: Any):
    notices = versioning.record_change({instance.namespace}, using)
    version = versioning.versions(notices)[instance.namespace]
    if instance.version != version:  # saved without save(): a fixture, say
        instance.version = version
        plain = models.QuerySet(model=DurableSetting, using=using)
        plain.filter(pk=instance.pk).update(version=version)


@receiver(
    post_delete, sender=DurableSetting, dispatch_uid="durabledict_setting_deleted"
)
def _record_delete(sender: Any, instance: DurableSetting, using: str, **kwargs: Any):
    # Every delete comes through here (model and queryset deletes alike: with
    # this receiver connected, Django deletes row by row and signals each).
    notices = versioning.record_change({instance.namespace}, using)
    pair = (instance.namespace, instance.key)
    history.removed(using, [pair], versioning.versions(notices))
