"""Journey admin pages: the eight cards, switching on and off (audited), wording each step with problems shown on
their step and nothing saved, scope (another dealer's journey is a 404), read-only staff, and CSRF."""

from __future__ import annotations

import re
from html.parser import HTMLParser
from typing import Any

import pytest
import sqlalchemy as sa

from scrm import db, runtime
from scrm.jobs.journey_jobs import tick
from scrm.models import AuditLog, Journey, JourneyKind, Role
from tests.factories import make_dealer, make_follower, make_staff
from tests.integration.admin_support import csrf_from, login, post, signed_in, text
from tests.integration.customer_support import bind, make_customer, make_vehicle

pytestmark = pytest.mark.integration


class _FormValues(HTMLParser):
    """The fields of form#journey-form as a browser would post them (checked boxes, selected options)."""

    def __init__(self) -> None:
        super().__init__()
        self.inside, self.values = False, list[tuple[str, str]]()
        self._select: str | None = None
        self._textarea: str | None = None
        self._text = ""

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {k: v or "" for k, v in attrs}
        if tag == "form" and a.get("id") == "journey-form":
            self.inside = True
        if not self.inside:
            return
        if tag == "input" and a.get("name"):
            if a.get("type") in ("checkbox", "radio") and "checked" not in a:
                return
            self.values.append((a["name"], a.get("value", "")))
        elif tag == "select":
            self._select = a.get("name")
        elif tag == "option" and self._select and "selected" in a:
            self.values.append((self._select, a.get("value", "")))
        elif tag == "textarea":
            self._textarea, self._text = a.get("name"), ""

    def handle_data(self, data: str) -> None:
        if self._textarea is not None:
            self._text += data

    def handle_endtag(self, tag: str) -> None:
        if tag == "form":
            self.inside = False
        elif tag == "select":
            self._select = None
        elif tag == "textarea" and self._textarea is not None:
            self.values.append((self._textarea, self._text))
            self._textarea = None


def form_values(html: str) -> dict[str, Any]:
    """The edit form's values; repeated names (template field rows) become lists."""
    parser = _FormValues()
    parser.feed(html)
    out: dict[str, Any] = {}
    for name, value in parser.values:
        if name in out:
            out[name] = [*(out[name] if isinstance(out[name], list) else [out[name]]), value]
        else:
            out[name] = value
    return out


def journey_ids(html: str) -> dict[str, int]:
    """kind -> journey id, from the list page's cards."""
    return {kind: int(jid) for jid, kind in re.findall(r'data-journey="(\d+)" data-kind="([a-z_]+)"', html)}


def load(journey_id: int) -> Journey:
    with db.transaction() as s:
        j = s.get(Journey, journey_id, populate_existing=True)
        assert j is not None
        s.expunge(j)
        return j


def audits(action: str) -> list[AuditLog]:
    with db.transaction() as s:
        return list(s.scalars(sa.select(AuditLog).where(AuditLog.action == action)))


def birthday_id(client: Any, query: str = "") -> int:
    page = client.get(f"/admin/journeys/{query}")
    assert page.status_code == 200
    return journey_ids(text(page))["birthday"]


def step_text(journey: Journey, key: str) -> str:
    step = next(s for s in journey.steps if s["key"] == key)
    return str(step["message"].get("text", ""))


def test_list_shows_the_dealers_eight_journeys(client: Any) -> None:
    signed_in(client, Role.DEALER_MANAGER)
    page = client.get("/admin/journeys/")
    assert page.status_code == 200
    html = text(page)
    assert set(journey_ids(html)) == {k.value for k in JourneyKind}
    assert html.count('class="card jn-card') == 8
    assert html.count('role="switch"') == 8 and 'aria-checked="true"' not in html     # all created switched off
    assert "客户旅程" in html and 'href="/admin/journeys/"' in html                      # nav item
    again = journey_ids(text(client.get("/admin/journeys/")))
    assert again == journey_ids(html)                                                    # ensured once, not twice


def test_switching_on_and_off_is_audited(client: Any) -> None:
    signed_in(client, Role.DEALER_MANAGER)
    jid = birthday_id(client)
    resp = post(client, f"/admin/journeys/{jid}/enabled", {"enabled": "1"})
    assert resp.status_code == 303 and resp.headers["Location"].endswith("/admin/journeys/")
    assert load(jid).enabled is True
    assert len(audits("journey.enable")) == 1
    html = text(client.get("/admin/journeys/"))
    assert re.search(rf'data-journey="{jid}" data-kind="birthday" data-enabled="on"', html)
    assert post(client, f"/admin/journeys/{jid}/enabled", {"enabled": "0"}).status_code == 303
    assert load(jid).enabled is False
    assert len(audits("journey.disable")) == 1


def test_a_bad_template_shows_on_its_step_and_saves_nothing(client: Any) -> None:
    signed_in(client, Role.DEALER_MANAGER)
    jid = journey_ids(text(client.get("/admin/journeys/")))["welcome"]
    before = load(jid)
    page = text(client.get(f"/admin/journeys/{jid}"))
    assert 'id="step-d0"' in page and 'id="step-d7"' in page and 'id="step-d30"' in page
    values = form_values(page)
    values.update({"s_d7_kind": "text", "s_d7_text": "{{ customer.salutation ", "enabled": "y",
                   "s_d0_text": "新的第一天问候"})
    resp = client.post(f"/admin/journeys/{jid}", data=values)
    assert resp.status_code == 422
    html = text(resp)
    step = html.split('id="step-d7"', 1)[1].split("</section>", 1)[0]
    assert "flash-error" in step and "has-error" in step                  # the message sits on the d7 editor
    assert "{{ customer.salutation </textarea>" in step                    # what was typed is kept
    assert "新的第一天问候" in html                                           # and so is the other steps' text
    after = load(jid)
    assert after.steps == before.steps and after.enabled is False           # nothing saved


def test_a_good_edit_saves_the_wording_and_settings(client: Any) -> None:
    signed_in(client, Role.DEALER_MANAGER)
    jid = birthday_id(client)
    page = text(client.get(f"/admin/journeys/{jid}"))
    assert 'id="exit-rule"' in page and 'id="step-stats"' in page
    values = form_values(page)
    wording = "{{ customer.salutation }}，生日快乐！到店出示本消息可领取生日礼包。"
    values.update({"s_day_kind": "text", "s_day_text": wording, "enabled": "y", "channel": "custom"})
    resp = client.post(f"/admin/journeys/{jid}", data=values)
    assert resp.status_code == 303, text(resp)[:2000]
    saved = load(jid)
    assert step_text(saved, "day") == wording and saved.enabled is True
    assert saved.channel.value == "custom"
    assert len(audits("journey.update")) == 1
    shown = text(client.get(f"/admin/journeys/{jid}"))
    assert "生日快乐！到店出示本消息可领取生日礼包。" in shown and "旅程已保存。" in shown


def test_a_bad_setting_is_shown_next_to_it(client: Any) -> None:
    signed_in(client, Role.DEALER_MANAGER)
    jid = journey_ids(text(client.get("/admin/journeys/")))["maintenance"]
    before = load(jid)
    values = form_values(text(client.get(f"/admin/journeys/{jid}")))
    int_settings = [k for k in values if k.startswith("setting_")]
    assert int_settings
    values[int_settings[0]] = "abc"
    resp = client.post(f"/admin/journeys/{jid}", data=values)
    assert resp.status_code == 422
    html = text(resp)
    field = html.split(f'id="{int_settings[0]}"', 1)[1].split("</div>", 1)[0]
    assert "field-error" in field
    assert load(jid).settings == before.settings


def test_another_dealers_journey_is_not_found(client: Any) -> None:
    other = make_dealer(name="别家店")
    signed_in(client)                                              # brand admin: pick the other dealer's journeys
    theirs = birthday_id(client, f"?dealer={other.id}")
    client.post("/admin/logout", data={"csrf_token": csrf_from(client.get("/admin/").data)})
    signed_in(client, Role.DEALER_MANAGER)
    mine = birthday_id(client)
    assert mine != theirs
    assert client.get(f"/admin/journeys/{theirs}").status_code == 404
    assert post(client, f"/admin/journeys/{theirs}/enabled", {"enabled": "1"}).status_code == 404
    assert post(client, f"/admin/journeys/{theirs}", {"enabled": "y"}).status_code == 404
    assert load(theirs).enabled is False
    assert birthday_id(client, f"?dealer={other.id}") == mine               # a dealer role cannot pick another


def test_dealer_staff_see_read_only_and_cannot_change(client: Any) -> None:
    signed_in(client, Role.DEALER_STAFF)
    page = client.get("/admin/journeys/")
    assert page.status_code == 200
    html = text(page)
    assert 'role="switch"' not in html and len(journey_ids(html)) == 8
    jid = journey_ids(html)["birthday"]
    view = text(client.get(f"/admin/journeys/{jid}"))
    assert 'id="read-only"' in view and 'id="journey-save"' not in view and 'data-readonly-step="day"' in view
    assert post(client, f"/admin/journeys/{jid}/enabled", {"enabled": "1"}).status_code == 403
    values = form_values(view)
    values.update({"enabled": "y", "csrf_token": csrf_from(view)})
    assert client.post(f"/admin/journeys/{jid}", data=values).status_code == 403
    assert load(jid).enabled is False


def test_posts_without_a_csrf_token_are_refused(client: Any) -> None:
    signed_in(client, Role.DEALER_MANAGER)
    jid = birthday_id(client)
    assert client.post(f"/admin/journeys/{jid}/enabled", data={"enabled": "1"}).status_code == 400
    assert client.post(f"/admin/journeys/{jid}/enabled",
                       data={"enabled": "1", "csrf_token": "forged"}).status_code == 400
    values = form_values(text(client.get(f"/admin/journeys/{jid}")))
    values.pop("csrf_token")
    values["enabled"] = "y"
    assert client.post(f"/admin/journeys/{jid}", data=values).status_code == 400
    assert load(jid).enabled is False and not audits("journey.enable")


def test_figures_and_latest_enrolments_with_names_masked_per_perm(client: Any) -> None:
    dealer = make_dealer()
    signed_in(client, Role.DEALER_MANAGER, dealer=dealer)
    today = db.utcnow().astimezone(runtime.get().settings.app.tz).date()
    owner = make_customer(dealer, name="王建国")
    car = make_vehicle(owner, model="凯美瑞", purchase_date=today)
    bind(owner, make_follower())
    jid = journey_ids(text(client.get("/admin/journeys/")))["welcome"]
    post(client, f"/admin/journeys/{jid}/enabled", {"enabled": "1"})
    assert tick()["welcome.enrolled"] == 1
    card = text(client.get("/admin/journeys/")).split(f'data-journey="{jid}"', 1)[1].split("</article>", 1)[0]
    assert re.search(r'data-figure="active">1<', card)                  # on the journey until day 30
    page = text(client.get(f"/admin/journeys/{jid}"))
    rows = page.split('id="enrolments"', 1)[1].split("</table>", 1)[0]
    assert "王建国" in rows and f"v{car.id}" in rows and "/ 3" in rows
    stats = page.split('<tr data-step="d0">', 1)[1].split("</tr>", 1)[0]
    assert stats.count('<td class="num">1</td>') == 1                    # day 0's message is waiting
    assert "当前在旅程中：1" in page
    client.post("/admin/logout", data={"csrf_token": csrf_from(page)})
    login(client, make_staff(Role.DEALER_STAFF, dealer=dealer).username)
    masked = text(client.get(f"/admin/journeys/{jid}")).split('id="enrolments"', 1)[1].split("</table>", 1)[0]
    assert "王**" in masked and "王建国" not in masked
