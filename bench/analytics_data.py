"""Set-based generation of a dealer group's history for bench/analytics.py, all in PostgreSQL.

Every table is filled by INSERT ... SELECT over generate_series with random() after a fixed setseed, in
one connection (so the seed holds), in the order the foreign keys need. Customer `c` has follower `c`
(for c <= 0.6 N), bound to it for c <= 0.5 N; the figures below are shares of N.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import date

import sqlalchemy as sa

MODELS = "ARRAY['凯美瑞','雅阁','帕萨特','速腾','宝马3系','奥迪A4L','CR-V','RAV4','途观L','Model 3']"
CITIES = "ARRAY['上海','北京','广州','深圳','杭州','南京','苏州','成都','武汉','西安']"
SCENES = "ARRAY['dealer','dealer','dealer','dealer','staff','staff','referral','event','none','none']"
MENU_KEYS = ("ARRAY['BOOK_TEST_DRIVE','BOOK_SERVICE','NEARBY_DEALERS','PROMOTIONS','CONTACT_DEALER',"
             "'BOOK_TEST_DRIVE','MY_POINTS','CLUB_EVENTS']")
SERVICE_TYPES = [("MAINT", "常规保养", "maintenance", 60), ("REPAIR", "维修", "repair", 120),
                 ("BODY", "钣金喷漆", "bodywork", 180), ("TD", "试驾", "test_drive", 60)]

# (name, SQL): {n} customers, {acc} account, {d0} first dealer id - 1, {today} the bench's today
STEPS: list[tuple[str, str]] = [
    ("dealers", """
INSERT INTO dealers (id, account_id, code, name, city, address, phone, latitude, longitude, timezone,
                     welcome_text, active, created_at)
SELECT {d0} + g, {acc}, 'D' || lpad(g::text, 2, '0'), ({cities})[g] || '汽车销售服务有限公司', ({cities})[g],
       ({cities})[g] || '汽车城' || g || '号', '021-5555' || lpad(g::text, 4, '0'),
       31.2 + g * 0.05, 121.4 + g * 0.05, 'Asia/Shanghai', '', true, now() - interval '9 years'
FROM generate_series(1, 10) g"""),
    ("staff", """
INSERT INTO staff_users (account_id, dealer_id, username, display_name, password_hash, role, language, active,
                         created_at)
SELECT {acc}, {d0} + d, 'bench_d' || d || '_' || k, '顾问' || d || '-' || k, 'x',
       CASE WHEN k = 0 THEN 'dealer_manager' ELSE 'dealer_staff' END, 'zh', true, now()
FROM generate_series(1, 10) d, generate_series(0, 4) k"""),
    ("service_types", """
INSERT INTO service_types (account_id, dealer_id, code, name, kind, duration_minutes, capacity, active,
                           sort_order, created_at)
SELECT {acc}, {d0} + d, t.code, t.name, t.kind, t.mins, 4, true, t.ord, now()
FROM generate_series(1, 10) d,
     (VALUES {types}) AS t(code, name, kind, mins, ord)"""),
    ("demo_cars", """
INSERT INTO demo_cars (account_id, dealer_id, model, plate, active, created_at)
SELECT {acc}, {d0} + d, ({models})[1 + (d + k) % 10], '沪D' || lpad((d * 10 + k)::text, 5, '0'), true, now()
FROM generate_series(1, 10) d, generate_series(0, 1) k"""),
    ("customers", """
INSERT INTO customers (id, account_id, dealer_id, name, mobile, gender, city, source, stage, tags, created_at,
                       updated_at)
SELECT g, {acc}, {d0} + 1 + g % 10, '客户' || g, '13' || lpad(g::text, 9, '0'),
       CASE WHEN random() < 0.6 THEN 'male' ELSE 'female' END, ({cities})[1 + g % 10], 'bench',
       CASE WHEN g % 100 < 85 THEN 'owner' WHEN g % 100 < 93 THEN 'prospect' ELSE 'lead' END, '[]',
       now() - random() * interval '8 years', now()
FROM generate_series(1, {n}) g"""),
    ("vehicles", """
INSERT INTO vehicles (id, account_id, dealer_id, customer_id, vin, plate, brand, model, model_year,
                      purchase_date, mileage, warranty_expiry, created_at, updated_at)
SELECT c.id, {acc}, c.dealer_id, c.id, 'LBENCH' || lpad(c.id::text, 11, '0'),
       '沪A' || lpad((c.id % 100000)::text, 5, '0'), '', ({models})[1 + (c.id * 7) % 10], NULL,
       p.purchase, 1000 + (random() * 150000)::int, (p.purchase + interval '3 years')::date, now(), now()
FROM customers c
CROSS JOIN LATERAL (SELECT DATE '{today}' - (15 + random() * 2905)::int AS purchase
                    WHERE c.id > 0) p
WHERE c.stage = 'owner'"""),
    ("repair_orders", """
WITH v AS MATERIALIZED (
    SELECT id, dealer_id, customer_id, purchase_date,
           120 + (random() * 240)::int AS gap,                              -- this owner's service interval
           CASE WHEN random() < 0.25 THEN DATE '{today}' - (120 + random() * 900)::int END AS stopped,
           (random() * 200)::int AS phase
    FROM vehicles)
INSERT INTO repair_orders (account_id, dealer_id, customer_id, vehicle_id, external_id, date, type, amount,
                           mileage, advisor, created_at)
SELECT {acc}, v.dealer_id, v.customer_id, v.id, 'RO' || v.id || '-' || k, x.day,
       CASE WHEN random() < 0.75 THEN '保养' WHEN random() < 0.7 THEN '维修' ELSE '钣喷' END,
       round((300 + power(random(), 2) * 4700)::numeric, 2), 5000 * (k + 1), '顾问', now()
FROM v, generate_series(0, 9) k,
     LATERAL (SELECT DATE '{today}' - 1095 + v.phase + k * v.gap + (random() * 30)::int - 15 AS day) x
WHERE x.day <= DATE '{today}' AND x.day >= v.purchase_date AND x.day >= DATE '{today}' - 1095
  AND (v.stopped IS NULL OR x.day <= v.stopped)"""),
    ("last_service", """
UPDATE vehicles SET last_service_date = r.last FROM (
    SELECT vehicle_id, max(date) AS last FROM repair_orders GROUP BY vehicle_id) r
WHERE r.vehicle_id = vehicles.id"""),
    ("followers", """
INSERT INTO followers (id, account_id, openid, subscribed, subscribed_at, unsubscribed_at, first_subscribed_at,
                       scene, scene_kind, dealer_id, staff_id, subscribe_scene, remark, language,
                       last_interaction_at, interaction_kind, cs_sent_since_interaction, latitude, longitude,
                       location_at, opt_out_marketing, created_at)
SELECT f.g, {acc}, 'obench' || lpad(f.g::text, 12, '0'), NOT f.gone, f.at,
       CASE WHEN f.gone THEN f.at + random() * (now() - f.at) END, f.at,
       CASE f.kind WHEN 'none' THEN '' ELSE f.kind || ':' || f.dealer END, f.kind, f.dealer,
       CASE WHEN f.kind = 'staff' THEN (SELECT s.id FROM staff_users s
                                        WHERE s.username = 'bench_d' || (f.dealer - {d0}) || '_' || (1 + f.g % 4))
       END, CASE WHEN f.kind = 'none' THEN 'ADD_SCENE_SEARCH' ELSE 'ADD_SCENE_QR_CODE' END, '', 'zh_CN',
       f.at + random() * (now() - f.at), 'message', 0,
       CASE WHEN f.g % 5 = 0 THEN 31.0 + random() END, CASE WHEN f.g % 5 = 0 THEN 121.0 + random() END,
       CASE WHEN f.g % 5 = 0 THEN now() - random() * interval '60 days' END, false, f.at
FROM (SELECT g, {d0} + 1 + g % 10 AS dealer, random() < 0.1 AS gone,
             now() - random() * interval '730 days' AS at, ({scenes})[1 + floor(random() * 10)::int] AS kind
      FROM generate_series(1, ({n} * 6) / 10) g) f"""),
    ("bindings", """
INSERT INTO customer_bindings (account_id, dealer_id, follower_id, customer_id, method, bound_at)
SELECT {acc}, f.dealer_id, f.id, f.id, CASE WHEN f.id % 3 = 0 THEN 'h5' ELSE 'chat' END,
       f.subscribed_at + random() * (now() - f.subscribed_at)
FROM followers f WHERE f.id <= {n} / 2"""),
    ("bookings", """
INSERT INTO bookings (account_id, dealer_id, customer_id, follower_id, vehicle_id, service_type_id, demo_car_id,
                      start_at, end_at, slot_minutes, status, source, contact_name, contact_mobile,
                      licence_confirmed, note, request_key, satisfaction, cancel_reason, created_at, updated_at,
                      cancelled_at, completed_at)
SELECT {acc}, c.dealer_id, c.id, CASE WHEN c.id <= {n} / 2 THEN c.id END, v.id, st.id,
       CASE WHEN st.kind = 'test_drive' THEN (SELECT min(id) FROM demo_cars dc WHERE dc.dealer_id = c.dealer_id)
       END, b.at, b.at + interval '1 hour', 60,
       CASE WHEN b.at > now() THEN 'confirmed' WHEN b.r < 0.72 THEN 'completed' WHEN b.r < 0.82 THEN 'no_show'
            ELSE 'cancelled' END, CASE WHEN c.id % 2 = 0 THEN 'chat' ELSE 'h5' END, c.name, c.mobile,
       st.kind = 'test_drive', '', 'bk' || c.id || '-' || b.k,
       CASE WHEN b.at <= now() AND b.r < 0.72 AND b.s < 0.45 THEN
            CASE WHEN b.s < 0.04 THEN 1 WHEN b.s < 0.08 THEN 2 WHEN b.s < 0.15 THEN 3 WHEN b.s < 0.28 THEN 4
                 ELSE 5 END END, '', b.at - interval '3 days', b.at,
       CASE WHEN b.at <= now() AND b.r >= 0.82 THEN b.at - interval '1 day' END,
       CASE WHEN b.at <= now() AND b.r < 0.72 THEN b.at + interval '1 hour' END
FROM customers c
LEFT JOIN vehicles v ON v.id = c.id
CROSS JOIN LATERAL (SELECT 0 AS k, random() AS r, random() AS s,
                           date_trunc('hour', now() - random() * interval '700 days' + interval '30 days')
                           + interval '9 hours' AS at WHERE c.id > 0) b
JOIN service_types st ON st.dealer_id = c.dealer_id
     AND st.code = CASE WHEN c.stage <> 'owner' THEN 'TD' WHEN c.id % 10 < 7 THEN 'MAINT'
                        WHEN c.id % 10 < 9 THEN 'REPAIR' ELSE 'BODY' END
WHERE c.id % 5 = 0 OR (c.stage <> 'owner' AND c.id % 5 = 1)"""),
    ("members", """
INSERT INTO members (id, account_id, follower_id, dealer_id, referral_code, balance, streak, best_streak,
                     joined_at, updated_at)
SELECT f.id, {acc}, f.id, f.dealer_id, 'B' || lpad(f.id::text, 10, '0'), 0, 0, 0, f.subscribed_at, now()
FROM followers f WHERE f.id <= ({n} * 3) / 10"""),
    ("points_entries", """
INSERT INTO points_entries (account_id, member_id, dealer_id, kind, points, reason, source, source_id,
                            idempotency_key, remaining, expires_at, note, created_at)
SELECT {acc}, m.id, m.dealer_id, e.kind, e.points, e.reason, e.source, '', 'bench:' || m.id || ':' || e.k,
       CASE WHEN e.kind = 'earn' THEN e.points END,
       CASE WHEN e.kind = 'earn' THEN e.at + interval '2 years' END, '', e.at
FROM members m
CROSS JOIN LATERAL (
    SELECT k, at, CASE WHEN k < 3 THEN 'earn' ELSE 'spend' END AS kind,
           CASE WHEN k < 3 THEN 10 + (random() * 190)::int ELSE -(50 + (random() * 100)::int) END AS points,
           CASE WHEN k < 3 THEN (ARRAY['checkin','booking_completed','repair_order'])[k + 1]
                ELSE 'redemption' END AS reason,
           CASE WHEN k < 3 THEN (ARRAY['member','booking','repair_order'])[k + 1] ELSE 'member' END AS source
    FROM generate_series(0, 3) k,
         LATERAL (SELECT m.joined_at + random() * (now() - m.joined_at) AS at WHERE k >= 0) t
    WHERE k < 3 OR m.id % 3 = 0) e"""),
    ("balances", """
UPDATE members SET balance = t.total FROM (
    SELECT member_id, sum(points) AS total FROM points_entries GROUP BY member_id) t
WHERE t.member_id = members.id"""),
    ("campaigns", """
INSERT INTO campaigns (id, account_id, dealer_id, name, channel, variants, holdout_pct, schedule, recurrence,
                       quiet_hours, conversion_days, status, pause_reason, occurrences, created_at, updated_at,
                       launched_at, finished_at)
SELECT g, {acc}, CASE WHEN g <= 2 THEN NULL ELSE {d0} + g END, '保养关怀第' || g || '期', 'custom', '[]', 10, 'now',
       '{{}}', '', 14, 'done', '', 1, now() - g * interval '60 days', now(), now() - g * interval '60 days',
       now() - g * interval '60 days' + interval '1 day'
FROM generate_series(1, 6) g"""),
    ("campaign_runs", """
INSERT INTO campaign_runs (campaign_id, occurrence, started_at, audience, holdout, excluded, finished_at)
SELECT id, 1, launched_at, 0, 0, '{{}}', finished_at FROM campaigns"""),
    ("campaign_members", """
INSERT INTO campaign_members (campaign_id, occurrence, follower_id, customer_id, arm, created_at)
SELECT c.id, 1, f.id, b.customer_id, CASE WHEN random() < 0.1 THEN 'holdout' ELSE 'a' END, c.launched_at
FROM campaigns c
JOIN followers f ON (c.dealer_id IS NULL OR f.dealer_id = c.dealer_id) AND f.subscribed_at < c.launched_at
     AND (f.id + c.id * 7) % 5 = 0
LEFT JOIN customer_bindings b ON b.follower_id = f.id"""),
    ("deliveries", """
INSERT INTO deliveries (account_id, dealer_id, follower_id, openid, dedupe_key, channel, purpose, payload,
                        status, attempts, next_try_at, claimed_by, sent_at, channel_used, wechat_msgid, error,
                        result, campaign_id, arm, created_at, updated_at)
SELECT {acc}, c.dealer_id, m.follower_id, 'obench' || lpad(m.follower_id::text, 12, '0'),
       'campaign:' || c.id || ':1:' || m.follower_id, 'custom', 'campaign', '{{}}', 'sent', 1, c.launched_at,
       '', c.launched_at, 'custom', '', '', '', c.id, m.arm, c.launched_at, c.launched_at
FROM campaign_members m JOIN campaigns c ON c.id = m.campaign_id WHERE m.arm <> 'holdout'"""),
    ("tracked_links", """
INSERT INTO tracked_links (account_id, token, url, campaign_id, created_at)
SELECT {acc}, 'bl' || lpad(id::text, 8, '0'), 'https://example.com/care/' || id, id, launched_at FROM campaigns"""),
    ("link_clicks", """
INSERT INTO link_clicks (link_id, account_id, follower_id, customer_id, delivery_id, clicked_at)
SELECT l.id, {acc}, d.follower_id, b.customer_id, d.id, d.sent_at + random() * interval '3 days'
FROM deliveries d JOIN tracked_links l ON l.campaign_id = d.campaign_id
LEFT JOIN customer_bindings b ON b.follower_id = d.follower_id
WHERE random() < 0.12"""),
    ("message_logs", """
INSERT INTO message_logs (account_id, follower_id, direction, msg_type, event, content, msg_id, handler,
                          created_at)
SELECT {acc}, f.id, 'in', CASE WHEN k % 2 = 0 THEN 'event' ELSE 'text' END, CASE WHEN k % 2 = 0 THEN 'CLICK'
       ELSE '' END, CASE WHEN k % 2 = 0 THEN ({menu})[1 + floor(random() * 8)::int]
       ELSE '想了解一下' || ({models})[1 + (f.id + k) % 10] || '的价格和配置' END,
       '', CASE WHEN k % 2 = 0 THEN 'menu' ELSE 'fallback' END, now() - random() * interval '90 days'
FROM followers f
LEFT JOIN customer_bindings b ON b.follower_id = f.id
LEFT JOIN customers c ON c.id = b.customer_id
CROSS JOIN generate_series(0, 3) k
WHERE (b.id IS NULL OR c.stage <> 'owner') AND k < 1 + f.id % 4"""),
]
SEQUENCES = ("dealers", "customers", "vehicles", "followers", "members", "campaigns")
TABLES = ("dealers", "staff_users", "service_types", "customers", "vehicles", "repair_orders", "followers",
          "customer_bindings", "bookings", "members", "points_entries", "campaigns", "campaign_members",
          "deliveries", "link_clicks", "message_logs")


def generate(url: str, account_id: int, size: int, today: date, seed: float = 0.42,
             log: Callable[[str], None] = print) -> dict[str, int]:
    """Fill the throw-away database at `url` for `size` customers; the row count of each table."""
    eng = sa.create_engine(url)
    types = ", ".join(f"('{c}', '{n}', '{k}', {m}, {i})" for i, (c, n, k, m) in enumerate(SERVICE_TYPES))
    try:
        with eng.begin() as c:
            c.execute(sa.text("SELECT setseed(:s)"), {"s": seed})
            d0 = int(c.scalar(sa.text("SELECT coalesce(max(id), 0) FROM dealers")) or 0)
            for name, sql in STEPS:
                t0 = time.perf_counter()
                text = sql.format(n=size, acc=account_id, d0=d0, today=today.isoformat(), models=MODELS,
                                  cities=CITIES, scenes=SCENES, menu=MENU_KEYS, types=types)
                rows = c.execute(sa.text(text)).rowcount
                log(f"generate {name}: {rows} rows in {time.perf_counter() - t0:.1f} s")
            for table in SEQUENCES:
                sql = f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), (SELECT coalesce(max(id), 1) FROM {table}))"  # noqa: S608, E501
                c.execute(sa.text(sql))
        with eng.connect().execution_options(isolation_level="AUTOCOMMIT") as c:
            t0 = time.perf_counter()
            c.execute(sa.text("VACUUM ANALYZE"))
            log(f"vacuum analyze in {time.perf_counter() - t0:.1f} s")
            return {t: int(c.scalar(sa.text(f"SELECT count(*) FROM {t}")) or 0)  # noqa: S608
                    for t in TABLES}
    finally:
        eng.dispose()
