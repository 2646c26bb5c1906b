"""Which MySQL driver the MariaDB tests use.

``DURABLEDICT_MYSQL_DRIVER`` picks it: ``mysqlclient`` (Django's recommended C
driver), ``pymysql`` (pure Python, installs from a wheel anywhere) or ``auto``, the
default: mysqlclient when it is installed, else PyMySQL. ``runtests.py`` installs
mysqlclient only where its headers are, so a fresh machine still runs every MariaDB
test; ``tests/test_mysql_drivers.py`` runs the MariaDB tests on the other driver too.
"""

from __future__ import annotations

import os

# Django refuses a MySQLdb older than the mysqlclient release it was tested with;
# PyMySQL reports an old mysqlclient version for compatibility. 2.2.1 is the
# newest minimum of the Django releases we support (6.0).
MYSQLCLIENT_COMPATIBLE = (2, 2, 1, "final", 0)


def install() -> str:
    """Make ``import MySQLdb`` give the chosen driver; return its name."""
    choice = os.environ.get("DURABLEDICT_MYSQL_DRIVER", "auto")
    if choice not in ("auto", "mysqlclient", "pymysql"):
        raise ValueError(f"DURABLEDICT_MYSQL_DRIVER={choice!r}: not a known driver")
    if choice != "pymysql":
        try:
            import MySQLdb  # noqa: F401
        except ImportError:
            if choice == "mysqlclient":
                raise
        else:
            return "mysqlclient"
    import pymysql

    pymysql.version_info = max(pymysql.version_info, MYSQLCLIENT_COMPATIBLE)
    pymysql.install_as_MySQLdb()
    return "pymysql"
