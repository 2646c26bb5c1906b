"""The MariaDB tests on the driver the main run did not use.

The suite runs on mysqlclient where its headers let runtests.py build it, and on
PyMySQL elsewhere (see tests/mysql_driver.py). This module reruns the MariaDB
ModelDict tests in a child pytest on the other driver, so both stay supported.
"""

import os
import subprocess
import sys
from importlib import metadata

import pytest
from django.conf import settings

pytestmark = [pytest.mark.services("mariadb"), pytest.mark.slow]

MODULES = ["tests/test_model_dict.py", "tests/test_model_transactions.py"]


def mysqlclient_installed() -> bool:
    try:
        metadata.version("mysqlclient")
    except metadata.PackageNotFoundError:
        return False
    return True


def test_the_chosen_driver_is_in_use():
    wanted = os.environ.get("DURABLEDICT_MYSQL_DRIVER", "auto")
    if wanted == "auto":
        wanted = "mysqlclient" if mysqlclient_installed() else "pymysql"
    assert wanted == settings.MYSQL_DRIVER


@pytest.mark.services("mysqlclient")
def test_mariadb_tests_pass_on_the_other_driver():
    other = "pymysql" if settings.MYSQL_DRIVER == "mysqlclient" else "mysqlclient"
    env = {
        **os.environ,
        "DURABLEDICT_MYSQL_DRIVER": other,
        # A run id of its own: the child creates test databases named after it.
        "DURABLEDICT_RUN_ID": f"{os.environ['DURABLEDICT_RUN_ID']}-{other}",
    }
    argv = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider"]
    argv += [*MODULES, f"{__file__}::test_the_chosen_driver_is_in_use"]
    argv += ["-k", "mariadb or chosen_driver"]
    result = subprocess.run(argv, env=env, capture_output=True, text=True)
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]
    assert " passed" in result.stdout.splitlines()[-1]
