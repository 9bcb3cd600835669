"""The H5 binding form (/h5/<slug>/bind): same service, same limits, errors next to the fields, CSRF."""

from __future__ import annotations

import time
from typing import Any

import pytest

from scrm.models import BindMethod, Stage
from tests.factories import make_dealer, make_follower
from tests.integration.admin_support import csrf_from
from tests.integration.binding_support import bindings, consents, customers
from tests.integration.customer_support import make_customer, make_vehicle

pytestmark = pytest.mark.integration
MOBILE = "13912345678"


def _signed_in(client: Any, openid: str, slug: str = "demo") -> None:
    """What the WeChat web authorization leaves in the session (the OAuth round trip has its own tests)."""
    with client.session_transaction() as sess:
        sess["h5"] = {slug: {"openid": openid, "at": time.time()}}


@pytest.fixture
def page(client: Any) -> dict[str, Any]:
    dealer = make_dealer(name="上海浦东4S店", phone="021-66668888")
    c = make_customer(dealer, name="张三", mobile=MOBILE)
    make_vehicle(c, plate="沪A12345", vin="LSVAU2180N2183294")
    f = make_follower(dealer_id=dealer.id)
    _signed_in(client, f.openid)
    return {"dealer": dealer, "customer": c, "follower": f}


def _submit(client: Any, **fields: str) -> Any:
    form = client.get("/h5/demo/bind")
    assert form.status_code == 200
    return client.post("/h5/demo/bind", data={"csrf_token": csrf_from(form.data), **fields})


def test_right_plate_binds_with_the_consent_shown(client: Any, page: dict[str, Any]) -> None:
    form = client.get("/h5/demo/bind").get_data(as_text=True)
    assert "上海浦东4S店" in form and "联系授权" in form and 'name="consent"' in form
    resp = _submit(client, mobile=MOBILE, answer="沪A12345", consent="y")
    body = resp.get_data(as_text=True)
    assert resp.status_code == 200 and 'data-view="done"' in body
    [b] = bindings()
    assert (b.customer_id, b.method) == (page["customer"].id, BindMethod.H5.value)
    [consent] = consents()
    assert consent.channel == BindMethod.H5 and consent.text and consent.text in form
    again = client.get("/h5/demo/bind").get_data(as_text=True)
    assert 'data-view="bound"' in again and "139****5678" in again and "沪A12345" in again
    home = client.get("/h5/demo/").get_data(as_text=True)              # the account page's link names it
    assert "张三" in home and "139****5678" in home


def test_wrong_answer_is_shown_next_to_the_field_with_tries_left(client: Any, page: dict[str, Any]) -> None:
    resp = _submit(client, mobile=MOBILE, answer="沪B00000", consent="y")
    body = resp.get_data(as_text=True)
    assert resp.status_code == 422 and 'id="answer-error"' in body and "4" in body
    assert f'value="{MOBILE}"' in body                                  # what was typed stays
    assert bindings() == []
    ok = _submit(client, mobile=MOBILE, answer="183294", consent="y")   # VIN last 6
    assert 'data-view="done"' in ok.get_data(as_text=True) and len(bindings()) == 1


def test_locked_after_five_wrong_answers(client: Any, page: dict[str, Any]) -> None:
    for _ in range(5):
        resp = _submit(client, mobile=MOBILE, answer="沪B00000", consent="y")
    body = resp.get_data(as_text=True)
    assert resp.status_code == 422 and "错误次数过多" in body
    still = _submit(client, mobile=MOBILE, answer="沪A12345", consent="y")
    assert "错误次数过多" in still.get_data(as_text=True) and bindings() == []


def test_bad_mobile_and_missing_consent_are_reported_per_field(client: Any, page: dict[str, Any]) -> None:
    resp = _submit(client, mobile="12345", answer="沪A12345", consent="y")
    assert resp.status_code == 422 and 'id="mobile-error"' in resp.get_data(as_text=True)
    resp = _submit(client, mobile=MOBILE, answer="沪A12345")
    body = resp.get_data(as_text=True)
    assert resp.status_code == 422 and "同意" in body and bindings() == [] and consents() == []


def test_unknown_mobile_becomes_a_lead(client: Any, page: dict[str, Any]) -> None:
    resp = _submit(client, mobile="13700001111", consent="y")
    assert 'data-view="done"' in resp.get_data(as_text=True)
    lead = next(c for c in customers() if c.mobile == "13700001111")
    assert lead.stage == Stage.LEAD and lead.source == "wechat"
    assert [b.customer_id for b in bindings()] == [lead.id]


def test_post_without_csrf_token_is_refused(client: Any, page: dict[str, Any]) -> None:
    resp = client.post("/h5/demo/bind", data={"mobile": MOBILE, "answer": "沪A12345", "consent": "y"})
    assert resp.status_code == 400 and bindings() == []


def test_choose_a_dealer_when_the_follower_has_none(client: Any) -> None:
    make_dealer(name="北京朝阳店", city="北京")
    other = make_dealer(name="上海浦东店", city="上海")
    c = make_customer(other, mobile=MOBILE)
    make_vehicle(c, plate="沪A54321")
    f = make_follower()
    _signed_in(client, f.openid)
    resp = _submit(client, mobile=MOBILE, answer="沪A54321", consent="y")
    assert resp.status_code == 422 and 'name="dealer_id"' in resp.get_data(as_text=True)
    resp = _submit(client, dealer_id=str(other.id), mobile=MOBILE, answer="沪A54321", consent="y")
    assert 'data-view="done"' in resp.get_data(as_text=True)
    assert [b.customer_id for b in bindings()] == [c.id]


def test_not_signed_in_goes_to_wechat_authorization(client: Any) -> None:
    resp = client.get("/h5/demo/bind")
    assert resp.status_code == 302 and "/connect/oauth2/authorize" in resp.headers["Location"]
