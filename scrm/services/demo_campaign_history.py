"""A finished demo campaign with a holdout, so the dashboard's campaign lift has something true to show:
every bound, following contact of a dealer was in it (variants A and B, one in five held out), the
messages were delivered 25 days ago, and some of them came in for a visit within the 14 days after."""

from __future__ import annotations

import random
from datetime import datetime, timedelta
from decimal import Decimal

import sqlalchemy as sa
from sqlalchemy.orm import Session

from scrm.models import (
    HOLDOUT,
    Campaign,
    CampaignChannel,
    CampaignMember,
    CampaignRun,
    CampaignStatus,
    Channel,
    CustomerBinding,
    Dealer,
    Delivery,
    DeliveryStatus,
    Follower,
    RepairOrder,
)

SEED = 20261001
# the share of each arm that came in within the conversion window: the message helped, B more than A
VISIT_RATE = {"A": 0.30, "B": 0.40, HOLDOUT: 0.12}
TEXT = {"A": "{name}您好，国庆长途出行前，欢迎到店免费检测轮胎和刹车。",
        "B": "{name}您好，长假自驾前做个免费安全检测吧，到店还送玻璃水一瓶。"}


def seed_finished_campaign(s: Session, account_id: int, dealer: Dealer, now: datetime) -> int:
    """Write the campaign, its run, members, deliveries and the visits that followed; the members written."""
    rng = random.Random(SEED)
    started = now - timedelta(days=25)
    contacts = s.execute(sa.select(CustomerBinding.follower_id, CustomerBinding.customer_id, Follower.openid)
                         .join(Follower, Follower.id == CustomerBinding.follower_id)
                         .where(CustomerBinding.dealer_id == dealer.id, Follower.subscribed.is_(True))
                         .order_by(CustomerBinding.id)).all()
    if not contacts:
        return 0
    salutation = "{{ customer.salutation }}"
    variants = [{"key": k, "weight": 50, "message": {"kind": "text", "text": t.format(name=salutation)}}
                for k, t in TEXT.items()]
    c = Campaign(account_id=account_id, dealer_id=dealer.id, name="国庆出行安全检测", channel=CampaignChannel.AUTO,
                 variants=variants, holdout_pct=20, conversion_days=14, status=CampaignStatus.DONE, occurrences=1,
                 created_at=started - timedelta(days=2), updated_at=started + timedelta(days=1),
                 launched_at=started, finished_at=started + timedelta(hours=2))
    s.add(c)
    s.flush()
    arms = [HOLDOUT if i % 5 == 4 else ("A" if i % 2 == 0 else "B") for i in range(len(contacts))]
    s.add(CampaignRun(campaign_id=c.id, occurrence=1, started_at=started, audience=len(contacts),
                      holdout=arms.count(HOLDOUT), excluded={}, finished_at=started + timedelta(hours=2)))
    for (follower_id, customer_id, openid), arm in zip(contacts, arms, strict=True):
        s.add(CampaignMember(campaign_id=c.id, occurrence=1, follower_id=follower_id, customer_id=customer_id,
                             arm=arm, created_at=started))
        if arm != HOLDOUT:
            sent = started + timedelta(minutes=rng.randint(1, 90))
            s.add(Delivery(account_id=account_id, dealer_id=dealer.id, follower_id=follower_id, openid=openid,
                           dedupe_key=f"campaign:{c.id}:1:{follower_id}", channel=Channel.AUTO, purpose="campaign",
                           payload={"custom": {"msgtype": "text", "text": {"content": TEXT[arm].format(name="")}}},
                           status=DeliveryStatus.DELIVERED, attempts=1, sent_at=sent, channel_used="custom",
                           campaign_id=c.id, arm=arm, created_at=started, updated_at=sent))
        if rng.random() < VISIT_RATE[arm]:
            day = (started + timedelta(days=rng.randint(2, 13))).date()
            s.add(RepairOrder(account_id=account_id, dealer_id=dealer.id, customer_id=customer_id,
                              external_id=f"DEMO-NOV-{c.id}-{customer_id}", date=day, type="安全检测",
                              amount=Decimal(rng.choice([0, 180, 360, 680])), advisor="刘顾问"))
    return len(contacts)
