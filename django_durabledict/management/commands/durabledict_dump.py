"""``manage.py durabledict_dump``: write dicts as one JSON document.

Strictly read-only: each dict is read with one ``_raw_snapshot()`` (one consistent
read of its store), nothing is written, no token moves, and no other process
reloads. See docs/commands.rst for the file format.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from typing import Any

from django.core.management.base import BaseCommand, CommandError

from django_durabledict.conf import app_settings
from django_durabledict.management import access
from django_durabledict.management.dumpformat import (
    FORMAT_VERSION,
    Skip,
    export_value,
    render,
)

#: Skipped keys named per dict and reason on standard error.
SHOWN_KEYS = 10


class Command(BaseCommand):
    help = (
        "Write the values of durable dicts as one JSON document (keys sorted, the "
        "same store always gives the same bytes). Reads only: never writes to a "
        "store."
    )

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument(
            "names",
            nargs="*",
            metavar="NAME",
            help="Dicts to dump, by their DURABLEDICTS name.",
        )
        parser.add_argument(
            "--all",
            action="store_true",
            help="Dump every dict configured in DURABLEDICTS.",
        )
        parser.add_argument(
            "--output",
            "-o",
            metavar="FILE",
            help="Write to FILE (created with mode 0600, replaced atomically) "
            "instead of standard output.",
        )
        parser.add_argument(
            "--indent",
            type=int,
            default=2,
            metavar="N",
            help="Indent the JSON by N spaces (default 2; 0 writes one line).",
        )
        parser.add_argument(
            "--raw",
            action="store_true",
            help="Include values that cannot be written as plain JSON (pickles) as "
            "the text the store holds, tagged with their encoding, instead of "
            "skipping them. Pickles are never unpickled.",
        )

    def handle(self, *args: str, **options: Any) -> None:
        names = self._selected(options["names"], options["all"])
        if options["indent"] < 0:
            raise CommandError("--indent must be 0 or more.")
        document: dict[str, Any] = {
            "format": FORMAT_VERSION,
            "backends": {name: access.backend_path(name) for name in names},
            "dicts": {},
        }
        skipped: dict[str, dict[str, str]] = {}
        for name in names:
            values, skipped[name] = self._dump(name, options["raw"])
            document["dicts"][name] = values
        if any(skipped.values()):
            document["skipped"] = {n: sorted(k) for n, k in skipped.items() if k}
        self._write(render(document, options["indent"]), options["output"])
        self._report(skipped)

    def _selected(self, names: list[str], everything: bool) -> list[str]:
        if names and everything:
            raise CommandError("Give dict names or --all, not both.")
        if everything:
            return app_settings.names()
        if not names:
            configured = ", ".join(repr(n) for n in app_settings.names()) or "none"
            raise CommandError(
                f"Name the dicts to dump, or pass --all. Configured dicts: "
                f"{configured}."
            )
        access.check_names(names)
        return list(dict.fromkeys(names))  # once each, in the order given

    def _dump(self, name: str, raw: bool) -> tuple[dict[str, Any], dict[str, str]]:
        """``(values, skipped keys with the reason)`` of one dict."""
        with access.read_only(name) as durable:
            try:
                snapshot = durable._raw_snapshot()
            except Exception as exc:
                raise access.store_failed(name, exc) from exc
            values, skipped = {}, {}
            for key, stored in snapshot.items():
                if not isinstance(key, str):
                    skipped[repr(key)] = "JSON object keys are strings"
                    continue
                try:
                    values[key] = export_value(durable, stored, raw)
                except Skip as why:
                    skipped[key] = str(why)
        return dict(sorted(values.items())), skipped

    def _write(self, text: str, path: str | None) -> None:
        if path is None or path == "-":
            self.stdout.write(text, ending="")
            return
        try:
            write_private(path, text.encode("utf-8"))
        except OSError as exc:
            raise CommandError(f"Cannot write {path}: {exc}") from exc

    def _report(self, skipped: dict[str, dict[str, str]]) -> None:
        """One line per dict and reason, naming the keys (the first ones)."""
        for name, keys in skipped.items():
            by_reason: dict[str, list[str]] = {}
            for key, why in sorted(keys.items()):
                by_reason.setdefault(why, []).append(key)
            for why, names in by_reason.items():
                shown = ", ".join(repr(key) for key in names[:SHOWN_KEYS])
                if len(names) > SHOWN_KEYS:
                    shown += f" and {len(names) - SHOWN_KEYS} more"
                count = f"{len(names)} key{'s' if len(names) > 1 else ''}"
                self.stderr.write(f"{name}: skipped {count} ({shown}): {why}")


def write_private(path: str, data: bytes) -> None:
    """Write *data* to *path* so that no other user can ever read it.

    The data goes to a new file in the same directory, created with mode 0600
    (``mkstemp`` opens it ``O_CREAT | O_EXCL``, so the mode is set at creation,
    whatever the umask), flushed to disk, then renamed over *path*: readers see
    the old file or the whole new one, never a partial one."""
    directory = os.path.dirname(os.path.abspath(path))
    fd, temporary = tempfile.mkstemp(
        dir=directory, prefix=f".{os.path.basename(path)}.", suffix=".tmp"
    )
    try:
        with os.fdopen(fd, "wb") as file:
            file.write(data)
            file.flush()
            os.fsync(file.fileno())
        os.replace(temporary, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(temporary)
        raise
