"""The API keys page in Chromium: a manager creates a key (shown once), then revokes it after confirming.

Screenshots: test-artifacts/screenshots/api-keys-*.png.
"""

from __future__ import annotations

from typing import Any

import pytest

from scrm.models import Role
from tests.e2e.conftest import screenshot, sign_in
from tests.factories import make_dealer, make_staff

pytestmark = pytest.mark.e2e


def test_create_copy_and_revoke_a_key(page: Any, live_server: Any) -> None:
    dealer = make_dealer(code="GZ001", name="广州天河4S店")
    make_staff(Role.DEALER_MANAGER, dealer=dealer, username="gz.manager", display_name="林经理")
    sign_in(page, "gz.manager")

    page.get_by_role("link", name="API 密钥").click()
    page.wait_for_url("**/admin/api-keys/")
    assert page.locator("h1").inner_text() == "API 密钥"
    page.fill("#name", "天河店 DMS")
    page.click("#api-key-create button[type=submit]")
    key = page.locator("#new-key-value").inner_text()
    assert key.startswith("scrm_")
    screenshot(page, "api-keys-created")

    page.goto("/admin/api-keys/")
    assert page.locator("#new-key").count() == 0 and key not in page.content()
    page.once("dialog", lambda dialog: dialog.accept())
    page.locator("#api-keys-table button", has_text="吊销").click()
    page.wait_for_selector(".flash-success")
    assert "已吊销" in page.locator(".flash-success").inner_text()
    row = page.locator("#api-keys-table tbody tr")
    assert "吊销" in row.locator(".badge").inner_text() and row.locator("button").count() == 0
    screenshot(page, "api-keys-revoked")
