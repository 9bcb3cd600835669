"""The bot: one module per feature, each exporting a router; ROUTERS lists them in priority order.

The dispatcher asks `common` first (cancel, help), then the router owning the follower's active
conversation (a router declared with `states=`), then the rest in this order. A new feature adds
its router here, before `keywords` and `fallback`.
"""

from __future__ import annotations

from handlers.binding import router as binding_router
from handlers.booking import router as booking_router
from handlers.club import router as club_router
from handlers.common import router as common_router
from handlers.events import router as events_router
from handlers.fallback import router as fallback_router
from handlers.keywords import router as keywords_router
from handlers.loyalty import router as loyalty_router
from handlers.marketing import router as marketing_router
from handlers.menu import router as menu_router
from handlers.my_bookings import router as my_bookings_router
from handlers.nearby import router as nearby_router
from handlers.referral import router as referral_router
from handlers.satisfaction import router as satisfaction_router
from handlers.staff_link import router as staff_link_router
from handlers.subscribe import router as subscribe_router
from scrm.wechat.router import Router

ROUTERS: list[Router] = [common_router, staff_link_router, binding_router, booking_router, my_bookings_router,
                         club_router, satisfaction_router, loyalty_router, referral_router, nearby_router, menu_router,
                         subscribe_router, events_router, marketing_router, keywords_router, fallback_router]
