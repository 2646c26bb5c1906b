"""docs/tutorial.rst, run for real: the commands it shows and the files it includes
(docs/tutorial/*.py), in a fresh project in a temporary directory."""

from __future__ import annotations

import http.cookiejar
import os
import re
import subprocess
import sys
import urllib.parse
import urllib.request
from pathlib import Path

import pytest

from tests import servers

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parent.parent
TUTORIAL = ROOT / "docs" / "tutorial"


def run(project: Path, *args: str) -> str:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    env.pop("DJANGO_SETTINGS_MODULE", None)
    env.update(
        DJANGO_SUPERUSER_USERNAME="admin",
        DJANGO_SUPERUSER_PASSWORD="tutorial-password",
        DJANGO_SUPERUSER_EMAIL="admin@example.com",
    )
    result = subprocess.run(
        [sys.executable, *args],
        cwd=project,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout + result.stderr


@pytest.fixture(scope="module")
def project(tmp_path_factory):
    project = tmp_path_factory.mktemp("tutorial")
    run(project, "-m", "django", "startproject", "mysite", ".")
    run(project, "manage.py", "startapp", "flags")
    with open(project / "mysite" / "settings.py", "a") as settings:
        settings.write("\n" + (TUTORIAL / "settings_tail.py").read_text())
    for source, target in [
        ("views.py", "flags/views.py"),
        ("urls.py", "mysite/urls.py"),
        ("tests.py", "flags/tests.py"),
    ]:
        (project / target).write_text((TUTORIAL / source).read_text())
    run(project, "manage.py", "migrate")
    run(project, "manage.py", "createsuperuser", "--noinput")
    return project


class Browser:
    """Just enough of a browser for the admin: cookies and the CSRF token."""

    def __init__(self, base: str) -> None:
        self.base = base
        self.opener = urllib.request.build_opener(
            urllib.request.HTTPCookieProcessor(http.cookiejar.CookieJar())
        )

    def get(self, path: str) -> str:
        with self.opener.open(self.base + path, timeout=30) as response:
            return response.read().decode()

    def post(self, path: str, data: dict[str, str]) -> str:
        token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', self.get(path))
        body = urllib.parse.urlencode({**data, "csrfmiddlewaretoken": token[1]})
        request = urllib.request.Request(
            self.base + path, data=body.encode(), headers={"Referer": self.base + path}
        )
        with self.opener.open(request, timeout=30) as response:
            return response.read().decode()


@pytest.fixture
def server(project):
    port = servers.free_port()
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    env.pop("DJANGO_SETTINGS_MODULE", None)
    process = subprocess.Popen(
        [sys.executable, "manage.py", "runserver", f"127.0.0.1:{port}", "--noreload"],
        cwd=project,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        assert servers.wait_until(lambda: servers.is_listening("127.0.0.1", port), 60)
        yield Browser(f"http://127.0.0.1:{port}")
    finally:
        process.terminate()
        process.wait(timeout=10)


def test_checks(project):
    assert "no issues" in run(project, "manage.py", "check")
    deploy = run(project, "manage.py", "check", "--deploy")
    assert "durabledict.W001" in deploy  # step 9: the local-memory token cache


def test_flag_edited_in_the_admin_is_read_by_the_view(server):
    assert server.get("/") == "The new checkout is off."
    changelist = server.get("/admin/login/?next=/admin/")  # sets the CSRF cookie
    assert "csrfmiddlewaretoken" in changelist
    server.post(
        "/admin/login/?next=/admin/",
        {"username": "admin", "password": "tutorial-password"},
    )
    page = server.get("/admin/django_durabledict/durablesetting/")
    assert "namespace=features&amp;key=new_checkout&amp;value=false" in page
    server.post(
        "/admin/django_durabledict/durablesetting/add/",
        {"namespace": "features", "key": "new_checkout", "value": "true"},
    )
    assert server.get("/") == "The new checkout is on."


def test_shell_write(project):
    run(
        project,
        "manage.py",
        "shell",
        "-c",
        "from django_durabledict import dicts; "
        "dicts['features']['new_checkout'] = False",
    )
    out = run(
        project,
        "manage.py",
        "shell",
        "-c",
        "from django_durabledict import dicts; print(dicts['features'].copy())",
    )
    assert "{'new_checkout': False}" in out


def test_the_tutorials_tests_pass(project):
    assert "OK" in run(project, "manage.py", "test", "flags")
