"""The member's monthly points leaderboard of their home dealer (h5.leaderboard)."""

from __future__ import annotations

from flask import render_template
from werkzeug.wrappers import Response

from scrm.h5 import bp
from scrm.h5.auth import account_or_404, current_openid, start_sign_in
from scrm.services import leaderboard as lb
from scrm.services.accounts import account_id
from scrm.services.dealer_cards import dealer_card
from scrm.services.followers import get_follower


@bp.get("/<slug>/leaderboard")
def leaderboard(slug: str) -> Response | str:
    """This month's top 20 of the member's home dealer, and the member's own rank."""
    account = account_or_404(slug)
    openid = current_openid(account)
    if openid is None:
        return start_sign_in(account)
    acc_id = account_id(slug)
    follower = get_follower(acc_id, openid)
    member = lb.member_of(acc_id, follower.id) if follower else None
    dealer_id = (member.dealer_id if member else None) or (follower.dealer_id if follower else None)
    if dealer_id is None:
        return render_template("h5/leaderboard.html", account=account, board=None, dealer=None, month=None)
    month = lb.local_today(dealer_id).replace(day=1)
    board = lb.board(acc_id, dealer_id, month, member.id if member else None)
    return render_template("h5/leaderboard.html", account=account, board=board, dealer=dealer_card(dealer_id),
                           month=month)

