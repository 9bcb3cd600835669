"""The binding form of the H5 pages (/h5/<slug>/bind): the chat's binding in one form, same rules and limits.

Mobile, plate or VIN's last 6, and the consent wording with a checkbox; a mobile without a record
becomes a lead, as in chat. The account page's link shows the bound record once there is one.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from flask import current_app, render_template, request
from flask_babel import gettext
from werkzeug.wrappers import Response

from scrm import runtime
from scrm.config import AccountSettings
from scrm.h5 import bp
from scrm.h5.auth import account_or_404, current_openid, start_sign_in
from scrm.h5.links import register_link
from scrm.models import BindMethod
from scrm.services import binding, binding_verify, dealer_cards
from scrm.services.accounts import account_id
from scrm.services.binding import AlreadyBound, BindingError
from scrm.services.binding_verify import BadMobile, LockedOut, TooManyLookups
from scrm.services.dealer_cards import DealerCard
from scrm.services.followers import FollowerRef, get_follower
from scrm.wechat import render


class _LinkLabel:
    """The account page's entry: "link my record", or the bound record's name, masked mobile and plates."""

    def __str__(self) -> str:
        bound = _bound_for_request()
        if not bound:
            return gettext("Link my customer record")
        b = bound[0]
        parts = [b.name or gettext("(no name)"), b.masked_mobile, *b.plates]
        return gettext("My customer record: %(summary)s", summary=" · ".join(p for p in parts if p))


def _bound_for_request() -> list[binding.Bound]:
    slug = (request.view_args or {}).get("slug")
    acc = current_app.extensions["scrm.settings"].account(slug) if isinstance(slug, str) else None
    openid = current_openid(acc) if acc is not None else None
    follower = get_follower(account_id(acc.slug), openid) if acc is not None and openid else None
    return binding.bindings_of(follower.id) if follower is not None else []


register_link("h5.bind", _LinkLabel(), icon="车", order=20)


@dataclass
class FormState:
    """What the form shows: values typed, errors per field, and the choices."""

    dealer_id: str = ""
    mobile: str = ""
    answer: str = ""
    consent: bool = False
    errors: dict[str, str] = field(default_factory=dict)


def _dealers(follower: FollowerRef, acc_id: int) -> tuple[DealerCard | None, list[DealerCard]]:
    """(the fixed dealer, or None with the dealers to choose from)."""
    own = dealer_cards.dealer_card(binding.dealer_of(acc_id, follower.dealer_id))
    if own is not None:
        return own, []
    dealers = dealer_cards.active_dealers(acc_id)
    return (dealers[0], []) if len(dealers) == 1 else (None, dealers)


def consent_text(account: AccountSettings, dealer: DealerCard | None) -> str:
    """The consent wording shown (and recorded): the same reply template the chat uses."""
    return render.render(account.language, "binding/consent.txt", account=account, dealer=dealer).strip()


def _until(exc: LockedOut) -> str:
    return exc.until.astimezone(runtime.get().settings.app.tz).strftime("%m-%d %H:%M")


def _submit(account: AccountSettings, follower: FollowerRef, fixed: DealerCard | None,
            choices: list[DealerCard], form: FormState) -> binding.Linked | binding.Bound | None:
    """Run the binding; fill `form.errors` and return None when it did not happen."""
    dealer_id = fixed.id if fixed else next((d.id for d in choices if str(d.id) == form.dealer_id), None)
    if dealer_id is None:
        form.errors["dealer_id"] = gettext("Choose your dealer.")
    if not form.consent:
        form.errors["consent"] = gettext("Please agree to be contacted; without it we cannot link your record.")
    if form.errors or dealer_id is None:
        return None
    bound = binding.current(follower.id, dealer_id)
    if bound is not None:
        return bound
    wording = consent_text(account, fixed)
    try:
        found = binding_verify.lookup(follower.id, dealer_id, form.mobile)
        if found.customer_id is None:
            return binding.link_new_lead(account_id=account_id(account.slug), dealer_id=dealer_id,
                                         follower_id=follower.id, mobile=found.mobile, method=BindMethod.H5,
                                         consent_text=wording, language=account.language)
        if not found.has_vehicles:
            form.errors["form"] = gettext("We cannot confirm this record online because it has no vehicle on it "
                                          "yet. Please call your dealer or ask for a binding QR code at the "
                                          "showroom.")
            return None
        if not form.answer.strip():
            form.errors["answer"] = gettext("Enter the licence plate or the last 6 characters of the VIN.")
            return None
        st = binding_verify.verify(follower.id, found.customer_id, form.answer)
        if st.tries_left >= 0:
            form.errors["answer"] = gettext("That does not match our record. %(n)s tries left.", n=st.tries_left)
            return None
        return binding.link(follower_id=follower.id, customer_id=found.customer_id, method=BindMethod.H5,
                            consent_text=wording, language=account.language)
    except BadMobile:
        form.errors["mobile"] = gettext("Enter an 11-digit mainland mobile number, e.g. 13812345678.")
    except TooManyLookups:
        form.errors["form"] = gettext("You have tried too many different mobile numbers. Please try again in an hour.")
    except LockedOut as exc:
        form.errors["form"] = gettext("Too many wrong answers: binding is paused until %(until)s. You can also ask "
                                      "your dealer to link your record.", until=_until(exc))
    except AlreadyBound as exc:
        return exc.bound or binding.current(follower.id, dealer_id)
    except BindingError:
        form.errors["form"] = gettext("Sorry, we could not link your record just now. Please try again.")
    return None


@bp.route("/<slug>/bind", methods=["GET", "POST"])
def bind(slug: str) -> Response | str | tuple[str, int]:
    """The binding form, its errors, and the page shown once bound."""
    account = account_or_404(slug)
    openid = current_openid(account)
    if openid is None:
        return start_sign_in(account)
    follower = get_follower(account_id(slug), openid)
    if follower is None or not follower.subscribed:
        return render_template("h5/binding.html", account=account, view="follow_first")
    fixed, choices = _dealers(follower, account_id(slug))
    if fixed is None and not choices:
        return render_template("h5/binding.html", account=account, view="no_dealers")
    if fixed is not None and (bound := binding.current(follower.id, fixed.id)) is not None:
        return render_template("h5/binding.html", account=account, view="bound", bound=bound, dealer=fixed)
    form = FormState()
    if request.method == "POST":
        f = request.form
        form = FormState(dealer_id=f.get("dealer_id", "")[:12], mobile=f.get("mobile", "")[:40],
                         answer=f.get("answer", "")[:40], consent=f.get("consent") == "y")
        done = _submit(account, follower, fixed, choices, form)
        if isinstance(done, binding.Bound):
            return render_template("h5/binding.html", account=account, view="bound", bound=done,
                                   dealer=dealer_cards.dealer_card(done.dealer_id))
        if done is not None:
            return render_template("h5/binding.html", account=account, view="done", linked=done,
                                   dealer=dealer_cards.dealer_card(done.dealer_id))
    status = 422 if form.errors else 200
    return render_template("h5/binding.html", account=account, view="form", form=form, dealer=fixed,
                           choices=choices, consent=consent_text(account, fixed)), status
