"""Realistic demo records, generated in memory batch by batch (no I/O): customers with their vehicles,
service history, WeChat follower and planted duplicates. `demo_writer` puts them in the database and
`demo_csv` writes them as a dealer-system export.

Everything comes from one `random.Random(seed)`, so a seed and a start number give the same records
every time. Unique keys are built from counters, not drawn at random: a mobile's last 8 digits are an
affine permutation of the customer number and a VIN's serial is the vehicle number, so a million
customers never collide on (dealer, mobile) or (dealer, VIN).
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from itertools import accumulate

from scrm.services import demo_pools as P
from scrm.services.demo_records import DealerSpec, GenCustomer, GenFollower, GenRepair, GenVehicle
from scrm.services.normalize import vin_check_digit

__all__ = ["DUPLICATE_KINDS", "DealerSpec", "GenCustomer", "Generator", "dealer_plan", "homophone", "typo_mobile"]
DUPLICATE_KINDS = ("homophone_plate", "mobile_typo", "name_birthday")
_MOBILE_A = 73_939_133  # odd and not a multiple of 5: k -> (A*k + B) mod 10**8 is a permutation
_MOBILE_PREFIX_SET = frozenset(P.MOBILE_PREFIXES)


def _weighted(pairs: list[tuple[str, int]]) -> tuple[list[str], list[int]]:
    return [p[0] for p in pairs], list(accumulate(p[1] for p in pairs))


_SURNAMES, _SURNAME_W = _weighted(P.SURNAMES)
_SOURCES, _SOURCE_W = _weighted(P.SOURCES)
_STAGES, _STAGE_W = _weighted(P.STAGES)
_MODEL_W = list(accumulate(m[4] for m in P.MODELS))
_CITY = {c[0]: c for c in P.CITIES}
_ONE_AM = time(1)
NOTES = ["客户询问置换政策，已发送报价。", "电话回访：对上次保养满意。", "客户希望周末到店试驾新能源车型。",
         "提醒客户保险即将到期，客户表示考虑续保。", "客户反映空调异味，已预约检查。"]


class Generator:
    """Makes batches of customers for dealers; `start` continues numbering after earlier runs."""

    def __init__(self, seed: int, today: date, *, start: int = 0, vehicle_start: int = 0,
                 duplicate_rate: float = 0.02, bind_rate: float = 0.35) -> None:
        self.rng = random.Random(seed)
        self.seed = seed
        self.today = today
        self.cutoff = datetime.combine(today, time(), tzinfo=UTC)  # nothing happens after today began (UTC)
        self.number = start
        self.vehicle_number = vehicle_start
        self.duplicate_rate = duplicate_rate
        self.bind_rate = bind_rate
        self.mobile_offset = random.Random(seed * 7919 + 1).randrange(10**8)
        self.planted = dict.fromkeys(DUPLICATE_KINDS, 0)

    # --- customers -------------------------------------------------------------------------------

    def batches(self, dealer: DealerSpec, count: int, batch_size: int = 5000) -> Iterator[list[GenCustomer]]:
        """`count` customers of `dealer`, in lists of at most `batch_size`."""
        done = 0
        while done < count:
            n = min(batch_size, count - done)
            yield self.batch(dealer, n)
            done += n

    def batch(self, dealer: DealerSpec, n: int) -> list[GenCustomer]:
        """`n` customers of one dealer; planted duplicates point at originals of the same batch."""
        out: list[GenCustomer] = []
        originals: list[GenCustomer] = []
        for _ in range(n):
            if len(originals) > 5 and self.rng.random() < self.duplicate_rate:
                original = originals.pop(self.rng.randrange(len(originals)))  # each original is copied once
                out.append(self._duplicate(original))
                continue
            c = self._customer(dealer)
            out.append(c)
            originals.append(c)
        return out

    def _next_number(self) -> int:
        self.number += 1
        return self.number

    def _mobile(self, number: int) -> str:
        tail = (_MOBILE_A * number + self.mobile_offset) % 10**8
        return f"{self.rng.choice(P.MOBILE_PREFIXES)}{tail:08d}"

    def _name(self, gender: str) -> str:
        surname = self.rng.choices(_SURNAMES, cum_weights=_SURNAME_W)[0]
        pool = P.GIVEN_MALE if gender == "male" else P.GIVEN_FEMALE
        given = self.rng.choice(pool)
        if len(given) == 1 and self.rng.random() < 0.55:
            given += self.rng.choice(pool)[0]
        return surname + given

    def _moment(self, day: date) -> datetime:
        """A moment in the dealer's working day (01:00-13:00 UTC is 09:00-21:00 in China)."""
        at = datetime.combine(day, _ONE_AM, tzinfo=UTC) + timedelta(microseconds=int(self.rng.random() * 432e8))
        return min(at, self.cutoff - timedelta(seconds=self._int(1, 7200)))

    def _int(self, low: int, high: int) -> int:
        """Like randint(low, high), at a third of its cost (the generator draws millions of these)."""
        return low + int(self.rng.random() * (high - low + 1))

    def _customer(self, dealer: DealerSpec) -> GenCustomer:
        rng, today = self.rng, self.today
        number = self._next_number()
        gender = "male" if rng.random() < 0.64 else "female"
        stage = rng.choices(_STAGES, cum_weights=_STAGE_W)[0]
        birthday = today - timedelta(days=self._int(22 * 365, 66 * 365))
        city = dealer.city if rng.random() < 0.9 else rng.choice(P.CITIES)[0]
        created = today - timedelta(days=self._int(0, 5 * 365))
        mobile: str | None = self._mobile(number)
        landline = None
        if rng.random() < 0.03:  # an old record with only the home phone
            area = P.LANDLINE_AREAS.get(city, "021")
            landline, mobile = f"{area}-{self._int(2, 8)}{rng.randrange(10**6, 10**7):07d}", None
        tags = rng.sample(P.TAGS, k=rng.choice((0, 0, 0, 1, 1, 2, 3)))
        c = GenCustomer(dealer=dealer, number=number, external_id=f"DMS{number:08d}", name=self._name(gender),
                        mobile=mobile, landline=landline, gender=gender, birthday=birthday, city=city,
                        source=rng.choices(_SOURCES, cum_weights=_SOURCE_W)[0], stage=stage, tags=tags,
                        created_at=self._moment(created), updated_at=self._moment(created))
        if stage in ("owner", "lost"):
            for _ in range(2 if rng.random() < 0.12 else 1):
                c.vehicles.append(self._vehicle(dealer, lapsed=stage == "lost"))
            first = min(v.purchase_date for v in c.vehicles)
            c.created_at = self._moment(first - timedelta(days=self._int(0, 60)))
        latest = max([c.created_at.date(), *(r.date for v in c.vehicles for r in v.repairs)])
        c.updated_at = max(c.created_at, self._moment(min(today, latest + timedelta(days=self._int(0, 30)))))
        if mobile and rng.random() < self.bind_rate * (1.3 if stage == "owner" else 0.5):
            c.follower = self._follower(c)
        if rng.random() < 0.08:
            c.note = rng.choice(NOTES)
        return c

    # --- vehicles and history --------------------------------------------------------------------

    def _vin(self, wmi: str, year: int) -> str:
        rng = self.rng
        self.vehicle_number += 1
        k = self.vehicle_number
        vds = "".join(rng.choices(P.VIN_CHARS, k=5))
        plant = P.VIN_CHARS[(k // 10**6) % len(P.VIN_CHARS)]
        body = f"{wmi}{vds}0{P.VIN_YEAR[(year - 2010) % len(P.VIN_YEAR)]}{plant}{k % 10**6:06d}"
        return body[:8] + vin_check_digit(body) + body[9:]

    def _plate(self, dealer: DealerSpec, nev: bool) -> str:
        rng = self.rng
        _, province, letters, _ = _CITY.get(dealer.city, P.CITIES[0])
        head = province + rng.choice(letters)
        if nev:  # 8 characters: D (electric) or F (hybrid), then 5 digits or a letter and 4 digits
            tail = f"{rng.randrange(10**5):05d}" if rng.random() < 0.7 else \
                rng.choice(P.PLATE_LETTERS.replace("I", "").replace("O", "")) + f"{rng.randrange(10**4):04d}"
            return head + rng.choice("DF") + tail
        chars = [P.PLATE_LETTERS[int(x * 120) % 24] if x < 0.2 else str(int(x * 10)) for x in
                 (rng.random() for _ in range(5))]
        return head + "".join(chars)

    def _vehicle(self, dealer: DealerSpec, *, lapsed: bool) -> GenVehicle:
        rng, today = self.rng, self.today
        brand, model, wmi, nev, _ = rng.choices(P.MODELS, cum_weights=_MODEL_W)[0]
        bought = today - timedelta(days=int(rng.triangular(20, 8 * 365, 2 * 365)))
        year = bought.year + (1 if bought.month >= 10 and rng.random() < 0.5 else 0)
        vin = self._vin(wmi, year)
        km_per_day = rng.uniform(6000, 25000) / 365
        # insurance is renewed on the purchase anniversary; up to 40 days past means not renewed here (yet)
        insurance = next_anniversary(bought, max(today - timedelta(days=40), bought + timedelta(days=1)))
        v = GenVehicle(vin=vin if rng.random() < 0.97 else None, plate=self._plate(dealer, nev), brand=brand,
                       model=model, model_year=year, purchase_date=bought, mileage=None, mileage_date=None,
                       last_service_date=None, last_service_mileage=None, insurance_expiry=insurance,
                       warranty_expiry=bought + timedelta(days=3 * 365))
        if v.vin is None and v.plate is None:
            v.vin = vin
        stop = today if not lapsed and rng.random() > 0.2 else \
            bought + timedelta(days=int((today - bought).days * rng.uniform(0.1, 0.8)))
        day, n, km = bought + timedelta(days=self._int(75, 190)), 0, 0
        while day < stop:
            n += 1  # the odometer only climbs: at least 300 km between two visits
            km = max(km + 300, int((day - bought).days * km_per_day * (0.9 + 0.2 * rng.random())))
            kind, low, high = ("首次保养", 0, 0) if n == 1 else P.SERVICES[int(rng.random() * len(P.SERVICES))]
            v.repairs.append(GenRepair(external_id=f"RO{self.vehicle_number:09d}{n:02d}", date=day, type=kind,
                                       amount=Decimal(self._int(low, high)), mileage=km,
                                       advisor=P.ADVISORS[int(rng.random() * len(P.ADVISORS))]))
            day += timedelta(days=self._int(150, 380))
        if v.repairs:
            last = v.repairs[-1]
            v.last_service_date, v.last_service_mileage = last.date, last.mileage
            v.mileage, v.mileage_date = last.mileage, last.date
        return v

    def _follower(self, c: GenCustomer) -> GenFollower:
        rng = self.rng
        start = max(c.created_at, self.cutoff - timedelta(days=3 * 365))
        span = max(1, int((self.cutoff - start).total_seconds()))
        followed = start + timedelta(seconds=rng.randrange(span))
        bound = min(followed + timedelta(minutes=self._int(1, 60 * 24 * 3)), followed + (self.cutoff - followed) / 2)
        subscribed = rng.random() < 0.9
        f = GenFollower(openid=f"oGEN{self.seed % 65536:04x}{c.number:010d}{rng.randrange(16**10):010x}",
                        subscribed=subscribed, subscribed_at=followed,
                        unsubscribed_at=None if subscribed else
                        min(self.cutoff, bound + timedelta(days=self._int(1, 200))),
                        method=rng.choices(("chat", "qr", "h5", "staff"), cum_weights=(50, 75, 95, 100))[0],
                        bound_at=bound)
        at = bound
        for _ in range(rng.choice((0, 1, 1, 2, 3, 4))):
            at += timedelta(minutes=self._int(5, 60 * 24 * 20))
            if at >= self.cutoff:
                break
            f.messages.append((at, "in", rng.choice(P.MESSAGES)))
        return f

    # --- planted duplicates ----------------------------------------------------------------------

    def _duplicate(self, original: GenCustomer) -> GenCustomer:
        rng = self.rng
        kinds = [k for k in DUPLICATE_KINDS if k != "homophone_plate" or any(v.plate for v in original.vehicles)]
        kinds = [k for k in kinds if k != "mobile_typo" or original.mobile]
        kind = rng.choice(kinds)
        number = self._next_number()
        dup = GenCustomer(dealer=original.dealer, number=number, external_id=f"DMS{number:08d}", name=original.name,
                          mobile=self._mobile(number), landline=None, gender=original.gender,
                          birthday=original.birthday, city=original.city, source=rng.choice(_SOURCES),
                          stage="lead" if original.stage == "lost" else original.stage, tags=[],
                          created_at=original.created_at + timedelta(days=self._int(1, 400)),
                          updated_at=original.updated_at, duplicate=kind)
        dup.created_at = min(dup.created_at, self.cutoff - timedelta(hours=1))
        dup.updated_at = max(dup.created_at, original.updated_at)
        if kind == "homophone_plate":
            dup.name = homophone(original.name, rng)
            v = next(v for v in original.vehicles if v.plate)
            dup.vehicles.append(GenVehicle(vin=None, plate=v.plate, brand=v.brand, model=v.model,
                                           model_year=v.model_year, purchase_date=v.purchase_date, mileage=None,
                                           mileage_date=None, last_service_date=None, last_service_mileage=None,
                                           insurance_expiry=v.insurance_expiry, warranty_expiry=v.warranty_expiry))
            dup.birthday = self.today - timedelta(days=self._int(22 * 365, 66 * 365))
        elif kind == "mobile_typo":
            dup.mobile = typo_mobile(original.mobile or "", rng)
        self.planted[kind] += 1
        return dup


def next_anniversary(day: date, after: date) -> date:
    """The first anniversary of `day` on or after `after` (29 February falls on the 28th)."""
    for year in range(after.year, after.year + 2):
        candidate = date(year, day.month, min(day.day, 28 if day.month == 2 else day.day))
        if candidate >= after:
            return candidate
    raise AssertionError("unreachable")


def homophone(name: str, rng: random.Random) -> str:
    """The name with one character swapped for one that sounds the same (张伟 → 章伟)."""
    spots = [i for i, ch in enumerate(name) if ch in P.HOMOPHONES]
    if not spots:
        return name[:-1] + P.HOMOPHONES.get(name[-1], "玮")
    i = rng.choice(spots)
    return name[:i] + P.HOMOPHONES[name[i]] + name[i + 1:]


def typo_mobile(mobile: str, rng: random.Random) -> str:
    """A valid mobile one digit off: the operator prefix mistyped, so the 8-digit tail stays unique."""
    prefix = mobile[:3]
    near = [p for p in P.MOBILE_PREFIXES if p != prefix and sum(a != b for a, b in zip(p, prefix, strict=True)) == 1]
    return rng.choice(near) + mobile[3:]


def dealer_plan(dealers: list[DealerSpec], total: int, rng: random.Random) -> list[tuple[DealerSpec, int]]:
    """Split `total` customers over dealers in proportion to their weights (big stores get more)."""
    weights = [d.weight for d in dealers]
    whole = sum(weights)
    counts = [int(total * w / whole) for w in weights]
    for i in rng.sample(range(len(dealers)), k=min(len(dealers), total - sum(counts))):
        counts[i] += 1
    return [(d, n) for d, n in zip(dealers, counts, strict=True) if n]
