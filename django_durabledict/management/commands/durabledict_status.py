"""``manage.py durabledict_status``: freshness of each dict, here and in its store.

The process side is this command's own process (it builds and loads the dicts):
what a freshly started worker would see. The store side is the version the store
holds now and, where the store keeps it, when it last changed.
"""

from __future__ import annotations

import json
from typing import Any

from django.core.management.base import BaseCommand

from django_durabledict.management import access
from django_durabledict.overview import DictReport, reports
from django_durabledict.statustext import describe_age, describe_time


class Command(BaseCommand):
    help = (
        "Show each durable dict's health, snapshot version and age in this "
        "process, and the version its store holds now. Reads only."
    )

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument(
            "names",
            nargs="*",
            metavar="NAME",
            help="Dicts to show, by their DURABLEDICTS name (default: all).",
        )
        parser.add_argument(
            "--json",
            action="store_true",
            help="Write one JSON document (keys sorted) instead of text.",
        )

    def handle(self, *args: str, **options: Any) -> None:
        names = list(dict.fromkeys(options["names"]))
        access.check_names(names)
        found = reports(names or None)
        if options["json"]:
            document = {"dicts": {r.name: r.as_dict() for r in found}}
            self.stdout.write(json.dumps(document, indent=2, sort_keys=True))
            return
        for position, found_report in enumerate(found):
            if position:
                self.stdout.write("")
            for line in text_lines(found_report):
                self.stdout.write(line)


def text_lines(report: DictReport) -> list[str]:
    """The text block of one dict."""
    lines = [f"{report.name} ({report.backend}): {report.health}"]
    if report.status is None:
        return [*lines, f"  cannot be built here: {report.error}"]
    status, store = report.status, report.store
    # In the store's terms where they differ (a ModelDict's database version).
    version = status.token
    if store is not None and store.snapshot is not None:
        version = store.snapshot
    keys = f"{status.keys} key{'' if status.keys == 1 else 's'}"
    lines.append(
        f"  this process: version {version!r}, {keys}, loaded "
        f"{describe_age(status.snapshot_age)}, last synced "
        f"{describe_age(status.sync_age)}"
    )
    if store is not None:
        lines.append(f"  store: {store_text(store)}")
    lines.append(
        f"  reloads: {status.full_reloads} full, {status.incremental_reloads} "
        "incremental"
    )
    if status.stale_since is not None:
        lines.append(f"  unreachable since {describe_time(status.stale_since)}")
    if status.last_error is not None:
        lines.append(
            f"  last failure: {describe_time(status.last_failure_at)}: "
            f"{status.last_error}"
        )
    for key, error in sorted(status.decode_errors.items()):
        lines.append(f"  cannot decode {key!r}: {error}")
    return lines


def store_text(store: Any) -> str:
    if store.error is not None:
        return f"cannot be read: {store.error}"
    if store.version is None:
        return "no version yet (nothing written)"
    changed = (
        f"changed {describe_age(store.age)}"
        if store.changed_at is not None
        else "age unknown (the store keeps no time)"
    )
    sync = {True: "in sync", False: "this process is behind", None: ""}[store.in_sync]
    return ", ".join(filter(None, [f"version {store.version!r}", changed, sync]))
