"""购车意向 on H5: the form lists the dealer's models, validates, saves and updates one row, thanks with a
test-drive link; a follower only ever sees and changes their own."""

from __future__ import annotations

import time
from typing import Any

import pytest
import sqlalchemy as sa

from scrm import db
from scrm.models import Budget, BuyTimeline, Follower, LeadIntent
from tests.factories import make_follower
from tests.integration.admin_support import csrf_from
from tests.integration.booking_support import make_shop
from tests.integration.customer_support import bind, make_customer, make_vehicle

pytestmark = pytest.mark.integration


def _signed_in(client: Any, f: Follower) -> None:
    with client.session_transaction() as sess:
        sess["h5"] = {"demo": {"openid": f.openid, "at": time.time()}}


def _post(client: Any, **data: str) -> Any:
    page = client.get("/h5/demo/intent").get_data(as_text=True)
    return client.post("/h5/demo/intent", data={**data, "csrf_token": csrf_from(page)})


def _rows() -> list[LeadIntent]:
    db.session.expire_all()
    return list(db.session.scalars(sa.select(LeadIntent)))


def test_form_saves_validates_updates_and_thanks(client: Any) -> None:
    shop = make_shop()
    dealer_id, td = shop.dealer.id, shop.test_drive.id
    c = make_customer(shop.dealer, name="车主")
    make_vehicle(c, model="极氪X")                        # a model the dealer's customers drive is offered too
    f = make_follower(dealer_id=dealer_id)
    c2 = make_customer(shop.dealer, name="潜客")
    bind(c2, f)
    _signed_in(client, f)
    assert "/h5/demo/intent" in client.get("/h5/demo/").get_data(as_text=True)    # on the H5 home
    page = client.get("/h5/demo/intent").get_data(as_text=True)
    assert "极氪001" in page and "极氪007" in page and "极氪X" in page and "购车意向" in page
    bad = _post(client, model="", budget="200k_300k", timeline="within_1m")
    assert bad.status_code == 422 and "请选择您感兴趣的车型" in bad.get_data(as_text=True) and _rows() == []
    bad = _post(client, model="__other__", other="", budget="200k_300k", timeline="within_1m")
    assert bad.status_code == 422 and "请填写您感兴趣的车型" in bad.get_data(as_text=True) and _rows() == []
    bad = _post(client, model="极氪001", budget="huge", timeline="within_1m")
    assert bad.status_code == 422 and "请选择您的购车预算" in bad.get_data(as_text=True) and _rows() == []
    bad = _post(client, model="极氪001", budget="200k_300k", timeline="within_1m", note="长" * 501)
    assert bad.status_code == 422 and "备注过长" in bad.get_data(as_text=True) and _rows() == []
    ok = _post(client, model="极氪001", budget="200k_300k", timeline="within_1m", note="想周末看车")
    assert ok.status_code == 303 and ok.headers["Location"].endswith("/h5/demo/intent?done=1")
    thanks = client.get("/h5/demo/intent?done=1").get_data(as_text=True)
    assert "感谢填写" in thanks
    assert f"/h5/demo/book?dealer={dealer_id}&amp;service={td}&amp;model=%E6%9E%81%E6%B0%AA001" in thanks
    [row] = _rows()
    assert (row.model, row.budget, row.timeline, row.note, row.source) == (
        "极氪001", Budget.FROM_200K, BuyTimeline.WITHIN_1M, "想周末看车", "h5")
    assert row.dealer_id == dealer_id and row.customer_id == c2.id and row.follower_id == f.id
    _post(client, model="__other__", other="  某品牌  SUV ", budget="over_500k", timeline="later")
    [row] = _rows()
    assert (row.model, row.budget, row.timeline) == ("某品牌 SUV", Budget.OVER_500K, BuyTimeline.LATER)
    again = client.get("/h5/demo/intent").get_data(as_text=True)
    assert 'value="某品牌 SUV"' in again


def test_another_follower_sees_and_changes_only_their_own(client: Any) -> None:
    shop = make_shop()
    a = make_follower(dealer_id=shop.dealer.id)
    b = make_follower(dealer_id=shop.dealer.id)
    _signed_in(client, a)
    _post(client, model="__other__", other="秘密车型", budget="over_500k", timeline="within_1m", note="A 的备注")
    _signed_in(client, b)
    page = client.get("/h5/demo/intent").get_data(as_text=True)
    assert "秘密车型" not in page and "A 的备注" not in page
    _post(client, model="极氪007", budget="under_100k", timeline="just_looking")
    rows = {r.follower_id: r for r in _rows()}
    assert rows[a.id].model == "秘密车型" and rows[a.id].note == "A 的备注"
    assert rows[b.id].model == "极氪007" and len(rows) == 2


def test_not_following_cannot_fill_it(client: Any) -> None:
    f = make_follower(subscribed=False)
    _signed_in(client, f)
    page = client.get("/h5/demo/intent")
    assert "intent-form" not in page.get_data(as_text=True)
    assert _rows() == []
