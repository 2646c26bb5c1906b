"""The admin's status page in a real browser (Playwright driving Debian's
Chromium), on the example project served by ``example_project/run.py``.

With DURABLEDICT_SCREENSHOTS=1 the test also refreshes the screenshot the docs
show (docs/_static/admin-status.png); otherwise it writes it to a temporary
directory only, so a test run never changes the working tree.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from tests.dictbackends import require_module
from tests.test_example_e2e import CHANGELIST, CHROMIUM_ARGS, TIMEOUT, ExampleServer

pytestmark = [pytest.mark.services("chromium"), pytest.mark.slow]

ROOT = Path(__file__).resolve().parent.parent
SCREENSHOT = ROOT / "docs" / "_static" / "admin-status.png"
STATUS = CHANGELIST + "status/"


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    example = ExampleServer(tmp_path_factory.mktemp("status") / "db.sqlite3")
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
    context = browser.new_context(
        base_url=server.url, viewport={"width": 1280, "height": 760}
    )
    context.set_default_timeout(TIMEOUT * 1000)
    yield context.new_page()
    context.close()


def log_in(page, server, username):
    page.goto("/admin/login/?next=" + CHANGELIST)
    page.fill("#id_username", username)
    page.fill("#id_password", server.passwords[username])
    page.click("input[type=submit]")
    page.wait_for_url("**" + CHANGELIST)


def edit(page, key, text):
    page.goto(CHANGELIST)
    page.click(f"#result_list a:text-is('{key}')")
    page.fill("#id_value", text)
    page.click("input[name=_save]")
    page.wait_for_selector(".messagelist .success")


def test_an_admin_reaches_the_status_page_and_sees_who_changed_what(
    page, server, tmp_path
):
    log_in(page, server, "admin")
    edit(page, "banner", '"Welcome back!"')
    edit(page, "new_checkout", "true")
    page.goto("/")  # the site's own process syncs and serves the change
    assert page.inner_text("#banner") == "Welcome back!"

    page.goto(CHANGELIST)
    page.click("#durabledict-status-link")
    page.wait_for_url("**" + STATUS)
    row = page.locator("#durabledict-status tr[data-dict=features]")
    assert row.locator("td.health").inner_text() == "ok"
    assert "ModelDict" in row.inner_text()
    assert "in sync" in row.locator("td.snapshot-version").inner_text()
    store = row.locator("td.store-version code").inner_text()
    assert store == row.locator("td.snapshot-version code").inner_text()
    changes = page.locator("#durabledict-changes tbody tr")
    assert changes.count() == 2
    latest = changes.nth(0).inner_text()
    assert "admin" in latest and "new_checkout" in latest

    shot = tmp_path / "admin-status.png"
    page.screenshot(path=str(shot), full_page=True)
    assert shot.read_bytes().startswith(b"\x89PNG")
    if os.environ.get("DURABLEDICT_SCREENSHOTS") == "1":
        SCREENSHOT.parent.mkdir(exist_ok=True)
        shutil.copyfile(shot, SCREENSHOT)


def test_a_view_only_user_sees_the_status_page_too(page, server):
    log_in(page, server, "viewer")
    page.click("#durabledict-status-link")
    page.wait_for_url("**" + STATUS)
    assert page.locator("#durabledict-status tr[data-dict=features]").count() == 1
