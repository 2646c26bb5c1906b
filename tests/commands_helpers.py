"""Helpers for the durabledict_dump / durabledict_load tests: running the commands,
the documents a round trip uses, and the reader process of the atomicity tests."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from io import StringIO
from pathlib import Path
from typing import Any

from django.core.management import call_command

ROOT = Path(__file__).resolve().parent.parent

#: Values of every JSON kind, nested, with non-ASCII text: what a round trip holds.
SAMPLE = {
    "banner": "Grüße ✓ — \u2028 line",
    "empty": "",
    "flag": True,
    "off": False,
    "none": None,
    "int": 12345678901234567890,
    "negative": -3,
    "float": 0.1,
    "list": [1, "two", [3.5, None], {"b": 2, "a": 1}],
    "nested": {"z": {"y": []}, "a": {"b": {"c": "deep"}}},
    "key with spaces": 1,
    "ключ": "значение",
    "long": "x" * 5000,
}


def dump(*args: str) -> tuple[str, str]:
    """Run durabledict_dump; ``(stdout, stderr)``."""
    out, err = StringIO(), StringIO()
    call_command("durabledict_dump", *args, stdout=out, stderr=err)
    return out.getvalue(), err.getvalue()


def load(*args: str) -> tuple[str, str]:
    """Run durabledict_load; ``(stdout, stderr)``."""
    out, err = StringIO(), StringIO()
    call_command("durabledict_load", *args, stdout=out, stderr=err)
    return out.getvalue(), err.getvalue()


def write_document(path: Path, dicts: dict[str, Any], **extra: Any) -> str:
    document = {"format": 1, "dicts": dicts, **extra}
    path.write_text(json.dumps(document), encoding="utf-8")
    return str(path)


class TTYStringIO(StringIO):
    """A StringIO that says it is a terminal, to see the progress bar."""

    def isatty(self) -> bool:
        return True


# -- The reader process of the "never half-applied" tests ----------------------------


def states(count: int) -> tuple[dict[str, Any], dict[str, Any]]:
    """The old and new contents of a dict a load replaces: every key changes, some
    go (removed with --prune) and some come."""
    old = {f"k{i:05d}": ["old", i] for i in range(count)}
    old.update({f"gone{i:04d}": "old" for i in range(count // 10)})
    new = {f"k{i:05d}": ["new", i] for i in range(count)}
    new.update({f"came{i:04d}": "new" for i in range(count // 10)})
    return old, new


class Reader:
    """``python -m tests.commands_reader SPEC``: another OS process that loads the
    dict in a loop through the backend's own load path and classifies each
    snapshot as old, new or mixed."""

    def __init__(self, spec: dict[str, Any]) -> None:
        env = {**os.environ, "PYTHONPATH": str(ROOT)}
        self.process = subprocess.Popen(
            [sys.executable, "-m", "tests.commands_reader", json.dumps(spec)],
            cwd=ROOT,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )

    def wait_ready(self) -> None:
        line = self.process.stdout.readline()
        if line.strip() != "ready":
            self.process.kill()
            raise AssertionError(f"reader: {line!r} {self.process.stderr.read()}")

    def result(self, timeout: float = 120) -> dict[str, int]:
        out, err = self.process.communicate(timeout=timeout)
        assert self.process.returncode == 0, err
        return json.loads(out.strip().splitlines()[-1])
