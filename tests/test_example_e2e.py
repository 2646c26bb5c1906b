"""End to end: the example project in a real browser (Playwright driving Debian's
Chromium), served by ``example_project/run.py`` on a free loopback port.

An admin changes a value and sees it on ``/`` at the next request; invalid JSON is a
form error that leaves the stored value alone; a view-only user cannot change
anything.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from tests import servers
from tests.dictbackends import require_module

pytestmark = [pytest.mark.services("chromium"), pytest.mark.slow]

ROOT = Path(__file__).resolve().parent.parent
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
]
CHANGELIST = "/admin/django_durabledict/durablesetting/"
TIMEOUT = 60


class ExampleServer:
    """``run.py --no-venv`` in a subprocess, on its own SQLite file and port."""

    def __init__(self, database: Path) -> None:
        self.port = servers.free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.output: list[str] = []
        self.passwords: dict[str, str] = {}
        env = {
            **os.environ,
            "EXAMPLE_DATABASE": str(database),
            "PYTHONPATH": str(ROOT),
        }
        env.pop("DJANGO_SETTINGS_MODULE", None)  # the example's own settings
        command = [sys.executable, "example_project/run.py", str(self.port)]
        self.process = subprocess.Popen(
            [*command, "--no-venv", "--noreload"],
            cwd=ROOT,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        self.drain = threading.Thread(target=self._drain, daemon=True)
        self.drain.start()

    def _drain(self) -> None:
        for line in self.process.stdout:
            self.output.append(line)
            match = re.match(r"(?:Admin|View-only) user: (\w+)\s+password: (\S+)", line)
            if match:
                self.passwords[match[1]] = match[2]

    def wait(self) -> None:
        def ready():
            if self.process.poll() is not None:
                raise RuntimeError("run.py exited:\n" + "".join(self.output))
            return len(self.passwords) == 2 and servers.is_listening(
                "127.0.0.1", self.port
            )

        servers.wait_until(ready, TIMEOUT)

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(timeout=10)
        self.drain.join(timeout=10)  # it reads until the server's output closes
        self.process.stdout.close()


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    example = ExampleServer(tmp_path_factory.mktemp("example") / "db.sqlite3")
    try:
        example.wait()
        yield example
    finally:
        example.stop()


@pytest.fixture(scope="module")
def browser():
    sync_api = require_module("playwright.sync_api")
    with sync_api.sync_playwright() as playwright:
        chromium = playwright.chromium.launch(
            executable_path=shutil.which("chromium"), args=CHROMIUM_ARGS
        )
        yield chromium
        chromium.close()


@pytest.fixture
def page(browser, server):
    context = browser.new_context(base_url=server.url)
    context.set_default_timeout(TIMEOUT * 1000)
    yield context.new_page()
    context.close()


def log_in(page, server, username):
    page.goto("/admin/login/?next=" + CHANGELIST)
    page.fill("#id_username", username)
    page.fill("#id_password", server.passwords[username])
    page.click("input[type=submit]")
    page.wait_for_url("**" + CHANGELIST)


def open_key(page, key):
    page.goto(CHANGELIST)
    page.click(f"#result_list a:text-is('{key}')")
    page.wait_for_selector("#id_value")


def test_an_admin_edit_shows_on_the_next_request(page, server):
    page.goto("/")
    assert page.inner_text("#banner") == "Hello from the database!"
    log_in(page, server, "admin")
    open_key(page, "banner")
    page.fill("#id_value", '"Changed in the admin"')
    page.click("input[name=_save]")
    page.wait_for_selector(".messagelist .success")
    page.goto("/")
    assert page.inner_text("#banner") == "Changed in the admin"


def test_a_default_can_be_overridden_from_the_changelist(page, server):
    log_in(page, server, "admin")
    page.click("#durabledict-unstored-defaults tr:has-text('max_items') a")
    assert page.input_value("#id_key") == "max_items"
    page.fill("#id_value", "25")
    page.click("input[name=_save]")
    page.wait_for_selector(".messagelist .success")
    page.goto("/")
    assert "Up to 25 items" in page.inner_text("#checkout")


def test_invalid_json_is_a_form_error_and_changes_nothing(page, server):
    log_in(page, server, "admin")
    open_key(page, "new_checkout")
    before = page.input_value("#id_value")
    page.fill("#id_value", "{not json")
    page.click("input[name=_save]")
    assert "Enter valid JSON" in page.inner_text(".errorlist")
    open_key(page, "new_checkout")
    assert page.input_value("#id_value") == before
    page.goto("/")
    assert page.inner_text("tr[data-key=new_checkout] code") == before.strip()


def test_a_view_only_user_cannot_change_anything(page, server):
    log_in(page, server, "viewer")
    assert page.locator("a.addlink").count() == 0  # no add, no "Override" links
    assert page.locator("select[name=action]").count() == 0  # no actions at all
    open_key_read_only(page, "banner")
    assert page.locator("textarea, input[name=_save]").count() == 0
    # A hand-made POST with a valid CSRF token is refused too.
    url = page.url
    token = next(c["value"] for c in page.context.cookies() if c["name"] == "csrftoken")
    response = page.request.post(
        url,
        form={"csrfmiddlewaretoken": token, "value": '"hacked"'},
        headers={"Referer": url},
    )
    assert response.status == 403
    page.goto("/")
    assert page.inner_text("#banner") != "hacked"


def open_key_read_only(page, key):
    page.goto(CHANGELIST)
    page.click(f"#result_list a:text-is('{key}')")
    page.wait_for_selector("div.readonly")
