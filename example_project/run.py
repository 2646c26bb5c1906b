#!/usr/bin/env python3
"""Set up and start the example project: one command from a fresh clone.

    python3 example_project/run.py [PORT]

1. Creates ``example_project/.venv`` with Django and this package (installed
   editable), unless it is there and up to date, and re-runs itself in it.
2. Migrates the SQLite database ``example_project/db.sqlite3``.
3. Creates a demo admin user and a view-only user with new generated passwords,
   prints them, and stores demo values in ``dicts["features"]``.
4. Serves the project on http://127.0.0.1:PORT/ (PORT: the argument, else the
   ``EXAMPLE_PORT`` environment variable, else 8000).

``--no-venv`` uses the running interpreter as it is (it must have Django and the
package); ``--noreload`` turns off runserver's autoreloader. ``EXAMPLE_DATABASE``
names another SQLite file.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import subprocess
import sys
import venv
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
VENV = HERE / ".venv"
STAMP = VENV / ".example-installed"


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "port",
        nargs="?",
        type=int,
        default=int(os.environ.get("EXAMPLE_PORT", "8000")),
        help="Port on 127.0.0.1 (default: $EXAMPLE_PORT or 8000).",
    )
    parser.add_argument(
        "--no-venv", action="store_true", help="Use this interpreter as it is."
    )
    parser.add_argument(
        "--noreload", action="store_true", help="Turn off the autoreloader."
    )
    return parser.parse_args()


def venv_python() -> Path:
    return VENV / "bin" / "python"


def in_venv() -> bool:
    return Path(sys.prefix).resolve() == VENV.resolve()


def ensure_venv() -> None:
    """Create or refresh .venv, then run this script again inside it."""
    wanted = hashlib.sha256((REPO / "pyproject.toml").read_bytes()).hexdigest()
    if not (STAMP.exists() and STAMP.read_text() == wanted):
        print(f"run.py: installing Django and django-durabledict in {VENV} ...")
        if not venv_python().exists():
            venv.create(VENV, with_pip=True)
        pip = [str(venv_python()), "-m", "pip", "install", "--quiet"]
        subprocess.run([*pip, "--upgrade", "pip"], check=True)
        subprocess.run([*pip, "-e", str(REPO)], check=True)
        STAMP.write_text(wanted)
    os.execv(venv_python(), [str(venv_python()), __file__, *sys.argv[1:]])


def manage(*args: str) -> None:
    subprocess.run([sys.executable, str(HERE / "manage.py"), *args], check=True)


def main() -> None:
    args = parse_args()
    if not args.no_venv and not in_venv():
        ensure_venv()
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "example.settings")
    manage("migrate", "--noinput", "--verbosity", "0")
    manage("demo_setup")
    print(f"Open http://127.0.0.1:{args.port}/ and the admin at /admin/", flush=True)
    server = ["runserver", f"127.0.0.1:{args.port}"]
    if args.noreload:
        server.append("--noreload")
    os.execv(sys.executable, [sys.executable, str(HERE / "manage.py"), *server])


if __name__ == "__main__":
    main()
