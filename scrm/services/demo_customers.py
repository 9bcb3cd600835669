"""Demo customers for `scrm demo`: a few hundred owners, prospects and leads from the demo-data generator,
with vehicles, service history, bound followers, their messages and some planted duplicates."""

from __future__ import annotations

import random

from sqlalchemy.orm import Session

from scrm.db import utcnow
from scrm.models import Dealer
from scrm.services.demo_generator import Generator
from scrm.services.demo_writer import Writer, specs, start_numbers

DEMO_SEED = 7


def seed_customers(s: Session, acc_id: int, dealers: list[Dealer], per_dealer: int = 100) -> int:
    """Add `per_dealer` generated customers to each dealer in the caller's transaction; return how many."""
    rng = random.Random(DEMO_SEED)
    start, vehicle_start = start_numbers(s)
    gen = Generator(DEMO_SEED, utcnow().date(), start=start, vehicle_start=vehicle_start, duplicate_rate=0.05,
                    bind_rate=0.4)
    writer = Writer(s, acc_id)
    count = 0
    for dealer in specs(dealers, rng):
        batch = gen.batch(dealer, per_dealer)
        writer.write(s, batch)
        count += len(batch)
    return count
