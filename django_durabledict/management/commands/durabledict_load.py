"""``manage.py durabledict_load``: write a durabledict_dump file into the stores.

Everything is checked before anything is written: the file, the dict names, every
key and value against its dict's backend, encoding and MAX_VALUE_SIZE. Each dict
is then changed atomically, with one token change, so other processes see its
old or its new contents, never a mix. See docs/commands.rst.
"""

from __future__ import annotations

import sys
from typing import Any

from django.core.management.base import BaseCommand, CommandError

from django_durabledict.conf import app_settings
from django_durabledict.management import access
from django_durabledict.management.dumpformat import parse
from django_durabledict.management.loadplan import (
    DictPlan,
    apply_plan,
    check_plan,
    describe,
    encode_values,
    is_atomic,
    make_plan,
)
from django_durabledict.management.progress import Progress

#: How many problems an error lists before "and N more".
MAX_PROBLEMS = 20


class Command(BaseCommand):
    help = (
        "Load a durabledict_dump file: show what would change in each dict, then "
        "change each dict atomically, with one version change."
    )

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument(
            "file",
            metavar="FILE",
            help="A file written by durabledict_dump ('-' reads standard input).",
        )
        parser.add_argument(
            "names",
            nargs="*",
            metavar="NAME",
            help="Load only these dicts of the file (default: every dict in it).",
        )
        parser.add_argument(
            "--dry-run",
            action="store_true",
            help="Check the file and show what would change, then stop.",
        )
        parser.add_argument(
            "--prune",
            action="store_true",
            help="Also delete the keys the file does not hold (except keys the "
            "dump skipped).",
        )
        parser.add_argument(
            "--no-input",
            "--noinput",
            action="store_false",
            dest="interactive",
            help="Do not ask for confirmation before writing.",
        )

    def handle(self, *args: str, **options: Any) -> None:
        path, interactive = options["file"], options["interactive"]
        if path == "-" and interactive and not options["dry_run"]:
            raise CommandError(
                "Reading the file from standard input leaves no way to confirm: "
                "add --no-input (or --dry-run)."
            )
        document = self._read(path)
        names = self._selected(document, options["names"])
        plans = self._plan(document, names, options["prune"])
        for plan in plans:
            self._show(plan, options["verbosity"])
        if not any(plan.writes for plan in plans):
            self.stdout.write("Nothing to change.")
            return
        if options["dry_run"]:
            self.stdout.write("Dry run: nothing was changed.")
            return
        if interactive and not self._confirmed():
            self.stdout.write("Cancelled: nothing was changed.")
            return
        self._apply(plans)

    # -- Reading and checking ----------------------------------------------------

    def _read(self, path: str) -> dict[str, Any]:
        try:
            if path == "-":
                text = sys.stdin.read()
            else:
                with open(path, encoding="utf-8-sig") as file:
                    text = file.read()
        except UnicodeDecodeError as exc:
            raise CommandError(f"{path} is not UTF-8 text: {exc}") from None
        except OSError as exc:
            raise CommandError(f"Cannot read {path}: {exc}") from None
        document, problems = parse(text)
        self._fail_on(problems, path)
        return document

    def _selected(self, document: dict[str, Any], names: list[str]) -> list[str]:
        in_file = document["dicts"]
        absent = [name for name in names if name not in in_file]
        if absent:
            held = ", ".join(repr(n) for n in in_file) or "none"
            raise CommandError(
                f"The file holds no dict {', '.join(map(repr, absent))}; it holds: "
                f"{held}."
            )
        names = list(dict.fromkeys(names)) or list(in_file)
        configured = app_settings.names()
        unknown = [name for name in names if name not in configured]
        if unknown:
            raise CommandError(
                f"No dict named {', '.join(map(repr, unknown))} in DURABLEDICTS. "
                f"Configured dicts: {', '.join(map(repr, configured)) or 'none'}. "
                "Name the dicts to load to leave the others out."
            )
        return names

    def _plan(
        self, document: dict[str, Any], names: list[str], prune: bool
    ) -> list[DictPlan]:
        files_dicts = document["dicts"]
        progress = Progress(
            self.stderr, sum(len(files_dicts[n]) for n in names), "keys checked"
        )
        prepared, problems = [], []
        for name in names:
            durable = access.registered(name)
            limit = app_settings.config(name)["MAX_VALUE_SIZE"]
            encoded, found = encode_values(
                name, durable, files_dicts[name], limit, progress.advance
            )
            prepared.append((name, durable, encoded))
            problems += found
        progress.close()
        self._fail_on(problems)
        skipped = document.get("skipped", {})
        plans = []
        for name, durable, encoded in prepared:
            current = _on_store(name, durable._raw_snapshot)
            plan = make_plan(durable, name, encoded, current, prune, skipped.get(name))
            problems += _on_store(name, check_plan, plan)
            plans.append(plan)
        self._fail_on(problems)
        return plans

    def _fail_on(self, problems: list[str], path: str | None = None) -> None:
        if not problems:
            return
        shown = [f"  - {problem}" for problem in problems[:MAX_PROBLEMS]]
        if len(problems) > MAX_PROBLEMS:
            shown.append(f"  ... and {len(problems) - MAX_PROBLEMS} more")
        what = f"{path} cannot be loaded" if path else "The file cannot be loaded"
        raise CommandError(f"{what}; nothing was changed:\n" + "\n".join(shown))

    # -- Showing, confirming, applying ---------------------------------------------

    def _show(self, plan: DictPlan, verbosity: int) -> None:
        counts = (
            f"{len(plan.added)} to add, {len(plan.changed)} to change, "
            f"{len(plan.removed)} to remove, {plan.unchanged} unchanged"
        )
        self.stdout.write(f"{plan.name} ({access.backend_path(plan.name)}): {counts}")
        if plan.writes and not is_atomic(plan.durable):
            self.stdout.write(
                "  warning: this backend writes key by key; other processes may "
                "see the dict partly loaded"
            )
        if verbosity < 1:
            return
        for key, new in sorted(plan.added.items()):
            self.stdout.write(f"  + {key}: {describe(plan.durable, new)}")
        for key in sorted(plan.changed):
            old, new = plan.shown[key]
            self.stdout.write(f"  ~ {key}: {old} -> {new}")
        for key in plan.removed:
            self.stdout.write(f"  - {key}")
        for key in plan.kept:
            self.stdout.write(f"  = {key}: kept (the dump skipped it)")

    def _confirmed(self) -> bool:
        try:
            answer = input("Write these changes? Type 'yes' to continue: ")
        except EOFError:
            raise CommandError(
                "No answer to the confirmation (standard input is closed); pass "
                "--no-input to load without asking."
            ) from None
        return answer.strip().lower() == "yes"

    def _apply(self, plans: list[DictPlan]) -> None:
        todo = [plan for plan in plans if plan.writes]
        progress = Progress(self.stderr, sum(p.writes for p in todo), "changes")
        done: list[str] = []
        for plan in todo:
            progress.set_label(f"changes ({plan.name})")
            try:
                apply_plan(plan)
            except Exception as exc:
                progress.close()
                raise _apply_error(plan, done, exc) from exc
            done.append(plan.name)
            progress.advance(plan.writes)
        progress.close()
        for plan in todo:
            self.stdout.write(f"{plan.name}: {plan.writes} changes written.")


def _on_store(name: str, func: Any, *args: Any) -> Any:
    """Call *func*; a failure of the dict's store is a CommandError naming it."""
    try:
        return func(*args)
    except Exception as exc:
        raise access.store_failed(name, exc) from exc


def _apply_error(plan: DictPlan, done: list[str], exc: Exception) -> CommandError:
    state = (
        "nothing of it was changed"
        if is_atomic(plan.durable)
        else "it may be partly changed"
    )
    loaded = ", ".join(repr(n) for n in done) or "none"
    error = access.store_failed(plan.name, exc)
    return CommandError(f"{error}; {state}. Dicts already loaded: {loaded}.")
