"""The prospect's purchase-intent form: the model, budget and timeline they have in mind."""

from __future__ import annotations

from flask import redirect, render_template, request, url_for
from flask_babel import lazy_gettext as _l

from scrm import db
from scrm.h5 import bp
from scrm.h5.booking_common import Page, Visitor, error_text, visitor
from scrm.h5.links import register_link
from scrm.services import lead_intent
from scrm.services.analytics_common import BUDGET_LABELS, TIMELINE_LABELS
from scrm.services.errors import Invalid
from scrm.services.leads_admin import booking_link

register_link("h5.intent", _l("Car purchase plans"), icon="意", order=35)


def _page(v: Visitor, form: lead_intent.IntentForm, errors: dict[str, str], done: bool,
          status: int = 200) -> tuple[str, int]:
    with db.transaction() as s:
        models = lead_intent.dealer_models(s, v.follower.dealer_id)
        book = booking_link(s, v.account_id, v.follower.dealer_id, form.model if form.model in models else "")
    return render_template("h5/intent.html", account=v.account, form=form, errors=errors, done=done,
                           models=models, other=lead_intent.OTHER, budgets=BUDGET_LABELS, timelines=TIMELINE_LABELS,
                           book_url=book), status


@bp.get("/<slug>/intent")
def intent(slug: str) -> Page:
    """The form, filled with what the follower told us before."""
    v = visitor(slug)
    if not isinstance(v, Visitor):
        return v
    form = lead_intent.IntentForm()
    with db.transaction() as s:
        row = lead_intent.of_follower(s, v.follower.id)
        if row is not None:
            in_list = row.model in lead_intent.dealer_models(s, v.follower.dealer_id)
            form = lead_intent.IntentForm(model=row.model if in_list else lead_intent.OTHER,
                                          other="" if in_list else row.model,
                                          budget=row.budget.value if row.budget else "",
                                          timeline=row.timeline.value if row.timeline else "", note=row.note)
    return _page(v, form, {}, request.args.get("done") == "1")


@bp.post("/<slug>/intent")
def intent_save(slug: str) -> Page:
    """Save the follower's intent; bad input shows the form again with the reason, nothing saved."""
    v = visitor(slug)
    if not isinstance(v, Visitor):
        return v
    f = request.form
    form = lead_intent.IntentForm(model=f.get("model", ""), other=f.get("other", ""), budget=f.get("budget", ""),
                                  timeline=f.get("timeline", ""), note=f.get("note", ""))
    try:
        lead_intent.save_h5(v.follower.id, form)
    except Invalid as exc:
        return _page(v, form, {exc.field or "form": error_text(exc)}, False, 422)
    return redirect(url_for("h5.intent", slug=slug, done=1), 303)
