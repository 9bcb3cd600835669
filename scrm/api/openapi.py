"""The hand-written OpenAPI 3.0 document of the dealer-system API (served at /api/openapi.json).

It describes exactly what `scrm.api` serves; the schemathesis tests hold the two together.
"""

from __future__ import annotations

from typing import Any

from scrm.services import api_bookings
from scrm.services.api_bindings import MAX_LIMIT
from scrm.services.api_customers import MAX_ITEMS, MAX_VEHICLES
from scrm.services.api_repairs import MAX_ITEMS as MAX_REPAIRS


def _s(max_length: int, description: str, **extra: Any) -> dict[str, Any]:
    return {"type": "string", "nullable": True, "maxLength": max_length, "description": description, **extra}


def _date(description: str) -> dict[str, Any]:
    return {"type": "string", "nullable": True, "description": f"{description} (YYYY-MM-DD; 2024/3/5 and "
            "2024年3月5日 are understood too)."}


def _int(description: str, maximum: int) -> dict[str, Any]:
    return {"type": "integer", "nullable": True, "minimum": 0, "maximum": maximum, "description": description}


_VEHICLE_FIELDS: dict[str, Any] = {
    "vin": _s(17, "Vehicle identification number (17 characters, check digit verified)."),
    "plate": _s(10, "Plate number, such as 粤B12345."),
    "brand": _s(50, "Brand."),
    "model": _s(100, "Model."),
    "model_year": {"type": "integer", "nullable": True, "minimum": 1950, "maximum": 2100,
                   "description": "Model year."},
    "purchase_date": _date("Purchase date"),
    "mileage": _int("Odometer reading in km.", 2_000_000),
    "mileage_date": _date("When the mileage was read"),
    "last_service_date": _date("Last workshop visit"),
    "last_service_mileage": _int("Mileage at the last visit, in km.", 2_000_000),
    "insurance_expiry": _date("Insurance expiry"),
    "warranty_expiry": _date("Warranty expiry"),
}
_CUSTOMER_FIELDS: dict[str, Any] = {
    "external_id": _s(64, "The customer's id in the dealer system; the best key for idempotent updates."),
    "name": _s(64, "Full name."),
    "mobile": _s(30, "Mainland mobile (13812345678, +86 allowed) or landline with area code (020-12345678)."),
    "gender": _s(10, "male / female (男 / 女 accepted)."),
    "birthday": _date("Birthday"),
    "city": _s(50, "City."),
    "source": _s(50, "Where the customer came from."),
    "stage": _s(20, "lead, prospect, owner or lost."),
}
_REPAIR_FIELDS: dict[str, Any] = {
    "external_id": _s(64, "The order's number in the dealer system (工单号); orders match on it. Required."),
    "date": _date("Settlement (or repair) date; required, not in the future"),
    "type": _s(50, "Kind of visit: 保养, 维修, 钣喷, 保险理赔 ..."),
    "amount": {"type": "string", "nullable": True, "maxLength": 30,
               "description": "Amount in yuan, 0 to 10,000,000 (1234.50; ¥1,234.50 is understood too). A JSON "
                              "number is accepted as well."},
    "mileage": _int("Odometer reading at the visit, in km.", 2_000_000),
    "advisor": _s(64, "Service advisor."),
    "vin": _s(17, "VIN of the car: the first way to find the customer."),
    "plate": _s(10, "Plate number: used when the VIN is not given or not on record."),
    "customer_external_id": _s(64, "The customer's id in the dealer system: used when the car is not found."),
    "mobile": _s(30, "The customer's mobile: the last way to find the customer."),
}
_ERROR = {"type": "object", "required": ["error"], "additionalProperties": False, "properties": {
    "error": {"type": "object", "required": ["code", "message"], "additionalProperties": False, "properties": {
        "code": {"type": "string", "description": "Stable machine-readable code, such as unauthorized."},
        "message": {"type": "string", "description": "What went wrong, in English."}}}}}


def _error_response(description: str) -> dict[str, Any]:
    return {"description": description,
            "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}}


def _vehicle_out() -> dict[str, Any]:
    # Stored values were validated on the way in; the output only promises types.
    props: dict[str, Any] = {"id": {"type": "integer"}}
    for name, spec in _VEHICLE_FIELDS.items():
        props[name] = {"type": spec["type"], "nullable": True, "description": spec["description"]}
        if name.endswith(("_date", "_expiry")):
            props[name]["format"] = "date"
    return {"type": "object", "required": list(props), "properties": props}


def _customer_out() -> dict[str, Any]:
    nullable_str = {"type": "string", "nullable": True}
    props: dict[str, Any] = {
        "id": {"type": "integer"}, "external_id": nullable_str, "name": nullable_str, "mobile": nullable_str,
        "landline": nullable_str, "gender": {"type": "string", "nullable": True, "enum": ["male", "female", None]},
        "birthday": {**nullable_str, "format": "date"}, "city": nullable_str, "source": nullable_str,
        "stage": {"type": "string", "enum": ["lead", "prospect", "owner", "lost"]},
        "tags": {"type": "array", "items": {"type": "string"}},
        "merged_into_id": {"type": "integer", "nullable": True,
                           "description": "Set when this record was merged into another customer."},
        "created_at": {"type": "string", "format": "date-time"},
        "updated_at": {"type": "string", "format": "date-time"},
        "vehicles": {"type": "array", "items": {"$ref": "#/components/schemas/Vehicle"}},
    }
    return {"type": "object", "required": list(props), "properties": props}


def _binding_out() -> dict[str, Any]:
    props: dict[str, Any] = {
        "id": {"type": "integer", "description": "The binding's id."},
        "customer_id": {"type": "integer"},
        "customer_external_id": {"type": "string", "nullable": True,
                                 "description": "The customer's id in the dealer system, when known."},
        "openid": {"type": "string", "description": "The follower's openid in the official account."},
        "subscribed": {"type": "boolean", "description": "Whether the follower still follows the account."},
        "bound_at": {"type": "string", "format": "date-time"},
        "method": {"type": "string", "enum": ["chat", "qr", "h5", "staff", "api"],
                   "description": "How the follower was linked."},
    }
    return {"type": "object", "required": list(props), "properties": props}


def _booking_out() -> dict[str, Any]:
    nullable_str = {"type": "string", "nullable": True}
    stamp = {"type": "string", "format": "date-time"}

    def ref(props: dict[str, Any], description: str) -> dict[str, Any]:
        return {"type": "object", "nullable": True, "required": list(props), "properties": props,
                "description": description}

    props: dict[str, Any] = {
        "id": {"type": "integer"},
        "status": {"type": "string", "enum": list(api_bookings.STATUSES)},
        "service": {"type": "object", "required": ["code", "name", "kind"], "properties": {
            "code": {"type": "string"}, "name": {"type": "string"},
            "kind": {"type": "string", "enum": ["maintenance", "repair", "bodywork", "test_drive", "other"]}}},
        "start_at": {**stamp, "description": "Start, UTC."},
        "end_at": {**stamp, "description": "End, UTC."},
        "start_local": {**stamp, "description": "Start in the dealer's time zone, with its offset."},
        "timezone": {"type": "string", "description": "The dealer's time zone (IANA name)."},
        "customer": ref({"id": {"type": "integer"}, "external_id": nullable_str},
                        "The customer record; null for a prospect without one (a test drive)."),
        "vehicle": ref({"id": {"type": "integer"}, "vin": nullable_str, "plate": nullable_str},
                       "The customer's car the visit is for, if one was chosen."),
        "demo_car": ref({"id": {"type": "integer"}, "model": {"type": "string"}, "plate": nullable_str},
                        "The demo car of a test drive."),
        "contact_name": {"type": "string"}, "contact_mobile": {"type": "string"},
        "source": {"type": "string", "enum": ["chat", "h5", "staff", "api"]},
        "note": {"type": "string"},
        "satisfaction": {"type": "integer", "nullable": True, "minimum": 1, "maximum": 5,
                         "description": "The owner's 1-5 rating after the visit."},
        "cancel_reason": {"type": "string"},
        "created_at": stamp, "updated_at": stamp,
        "cancelled_at": {**stamp, "nullable": True}, "completed_at": {**stamp, "nullable": True},
    }
    return {"type": "object", "required": list(props), "properties": props}


def _batch_responses(kind: str, maximum: int) -> dict[str, Any]:
    return {
        "200": {"description": "One result per item, in order.", "content": {"application/json": {
            "schema": {"$ref": "#/components/schemas/BatchResponse"}}}},
        "400": _error_response("The body is not valid JSON."),
        "401": {"$ref": "#/components/responses/Unauthorized"},
        "413": _error_response("The body is larger than 2 MiB."),
        "415": _error_response("The body is not JSON."),
        "422": _error_response(f"The body is not an object with a list `{kind}`, or has too many items (more "
                               f"than {maximum})."),
        "429": {"$ref": "#/components/responses/RateLimited"},
    }


def document() -> dict[str, Any]:
    """The OpenAPI document as a dict."""
    unauthorized = {"$ref": "#/components/responses/Unauthorized"}
    limited = {"$ref": "#/components/responses/RateLimited"}
    return {
        "openapi": "3.0.3",
        "info": {"title": "车主汇 SCRM dealer API", "version": "1.0.0",
                 "description": "Push customers, vehicles and repair orders from a dealer system, and read which "
                                "followers are bound to which customers. Every call is scoped to the dealer of "
                                "the API key (created in the admin pages, 设置 › API 密钥). Each key may make "
                                "about 10 requests per second with bursts of 20 (configurable per deployment); "
                                "beyond that the API answers 429 with a Retry-After header. Vehicles are sent "
                                "inside customers:batch: an item with only `external_id` (or `mobile`) and "
                                "`vehicles` adds or updates cars of an existing customer."},
        "servers": [{"url": "/"}],
        "security": [{"bearer": []}],
        "paths": {
            "/api/v1/customers:batch": {"post": {
                "operationId": "upsertCustomers", "summary": "Create or update customers in a batch",
                "description": "Idempotent: sending the same batch again reports every item as unchanged. "
                               "Customers match by external_id, else mobile; vehicles by VIN, else plate. "
                               "An empty value never erases a stored one. Each item is written whole or not "
                               "at all.",
                "requestBody": {"required": True, "content": {"application/json": {
                    "schema": {"$ref": "#/components/schemas/BatchRequest"}}}},
                "responses": _batch_responses("customers", MAX_ITEMS)}},
            "/api/v1/customers/{id}": {"get": {
                "operationId": "getCustomer", "summary": "Read one customer with its vehicles",
                "parameters": [{"name": "id", "in": "path", "required": True,
                                "schema": {"type": "integer", "minimum": 1, "maximum": 2147483647}}],
                "responses": {
                    "200": {"description": "The customer.", "content": {"application/json": {
                        "schema": {"$ref": "#/components/schemas/Customer"}}}},
                    "401": unauthorized,
                    "404": _error_response("No customer with this id for the key's dealer."),
                    "429": limited,
                }}},
            "/api/v1/repair-orders:batch": {"post": {
                "operationId": "upsertRepairOrders", "summary": "Create or update repair orders in a batch",
                "description": "Idempotent by `external_id` (the order number): sending the same batch again "
                               "reports every item as unchanged. Each order is linked to an existing customer "
                               "of the dealer by VIN, else plate, else customer_external_id, else mobile; no "
                               "match rejects the item (a repair order never creates a customer). A customer "
                               "found by number or mobile gets the order's car when its VIN or plate is new. "
                               "The car's last service date and mileage are raised to its latest order, never "
                               "lowered. An empty value never erases a stored one. In each result, `id` is the "
                               "repair order's id and `customer_id` the customer it was linked to.",
                "requestBody": {"required": True, "content": {"application/json": {
                    "schema": {"$ref": "#/components/schemas/RepairBatchRequest"}}}},
                "responses": _batch_responses("repair_orders", MAX_REPAIRS)}},
            "/api/v1/bindings": {"get": {
                "operationId": "listBindings", "summary": "Followers bound to the dealer's customers",
                "description": "The bindings in force, oldest first (by bound_at, then id), in pages: pass "
                               "`next_cursor` back as `cursor` until it is null. Unbinding deletes a binding, so "
                               "unbound pairs are not listed: to notice them, read the whole list (without "
                               "`since`) and compare. For incremental reads pass `since` a little before the "
                               "newest bound_at you have seen, and de-duplicate by id.",
                "parameters": [
                    {"name": "since", "in": "query", "required": False, "description":
                     "Only bindings made at or after this ISO 8601 time (UTC when no offset is given).",
                     "schema": {"type": "string", "format": "date-time"}},
                    {"name": "cursor", "in": "query", "required": False,
                     "description": "The `next_cursor` of the previous page.",
                     "schema": {"type": "string", "maxLength": 200}},
                    {"name": "limit", "in": "query", "required": False, "description": "Page size.",
                     "schema": {"type": "integer", "minimum": 1, "maximum": MAX_LIMIT, "default": 100}},
                ],
                "responses": {
                    "200": {"description": "One page of bindings.", "content": {"application/json": {
                        "schema": {"$ref": "#/components/schemas/BindingPage"}}}},
                    "401": unauthorized,
                    "422": _error_response("A parameter is malformed (since, cursor, limit) or unknown."),
                    "429": limited,
                }}},
            "/api/v1/bookings": {"get": {
                "operationId": "listBookings", "summary": "The dealer's bookings",
                "description": "Bookings of the key's dealer, soonest start first, in pages: pass `next_cursor` "
                               "back as `cursor` until it is null. Dates are local days of the dealer (`to` "
                               "includes its whole day); times without an offset are UTC. For incremental reads "
                               "pass `updated_since` a little before the newest updated_at you have seen, and "
                               "de-duplicate by id (a booking moved while you page may appear twice).",
                "parameters": [
                    {"name": "from", "in": "query", "required": False,
                     "description": "Only bookings starting at or after this date or ISO 8601 time.",
                     "schema": {"type": "string", "maxLength": 40}},
                    {"name": "to", "in": "query", "required": False,
                     "description": "Only bookings starting before this time (a date: up to the end of that day).",
                     "schema": {"type": "string", "maxLength": 40}},
                    {"name": "status", "in": "query", "required": False,
                     "description": "One or more of " + ", ".join(api_bookings.STATUSES) + ", comma-separated.",
                     "schema": {"type": "string", "maxLength": 100}},
                    {"name": "updated_since", "in": "query", "required": False,
                     "description": "Only bookings changed at or after this ISO 8601 time.",
                     "schema": {"type": "string", "format": "date-time"}},
                    {"name": "cursor", "in": "query", "required": False,
                     "description": "The `next_cursor` of the previous page.",
                     "schema": {"type": "string", "maxLength": 200}},
                    {"name": "limit", "in": "query", "required": False, "description": "Page size.",
                     "schema": {"type": "integer", "minimum": 1, "maximum": api_bookings.MAX_LIMIT, "default": 100}},
                ],
                "responses": {
                    "200": {"description": "One page of bookings.", "content": {"application/json": {
                        "schema": {"$ref": "#/components/schemas/BookingPage"}}}},
                    "401": unauthorized,
                    "422": _error_response("A parameter is malformed (from, to, status, updated_since, cursor, "
                                           "limit) or unknown."),
                    "429": limited,
                }}},
        },
        "components": {
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer",
                                           "bearerFormat": "scrm_<prefix>_<secret>"}},
            "responses": {
                "Unauthorized": _error_response("The API key is missing, malformed, unknown or revoked."),
                "RateLimited": {**_error_response("Too many requests for this API key; nothing was done."),
                                "headers": {"Retry-After": {
                                    "description": "Seconds to wait before trying again.",
                                    "schema": {"type": "integer", "minimum": 1}}}},
            },
            "schemas": {
                "Error": _ERROR,
                "VehicleInput": {"type": "object", "additionalProperties": False, "properties": _VEHICLE_FIELDS},
                "CustomerInput": {"type": "object", "additionalProperties": False, "properties": {
                    **_CUSTOMER_FIELDS,
                    "vehicles": {"type": "array", "maxItems": MAX_VEHICLES,
                                 "items": {"$ref": "#/components/schemas/VehicleInput"}}}},
                "BatchRequest": {"type": "object", "required": ["customers"], "additionalProperties": False,
                                 "properties": {"customers": {
                                     "type": "array", "maxItems": MAX_ITEMS,
                                     "items": {"$ref": "#/components/schemas/CustomerInput"}}}},
                "RepairOrderInput": {"type": "object", "additionalProperties": False,
                                     "required": ["external_id", "date"], "properties": _REPAIR_FIELDS},
                "RepairBatchRequest": {"type": "object", "required": ["repair_orders"], "additionalProperties": False,
                                       "properties": {"repair_orders": {
                                           "type": "array", "maxItems": MAX_REPAIRS,
                                           "items": {"$ref": "#/components/schemas/RepairOrderInput"}}}},
                "Binding": _binding_out(),
                "BindingPage": {"type": "object", "required": ["bindings", "next_cursor"], "properties": {
                    "bindings": {"type": "array", "items": {"$ref": "#/components/schemas/Binding"}},
                    "next_cursor": {"type": "string", "nullable": True,
                                    "description": "Pass as `cursor` for the next page; null on the last page."}}},
                "ItemResult": {"type": "object", "required": ["index", "status", "errors"], "properties": {
                    "index": {"type": "integer", "minimum": 0},
                    "status": {"type": "string", "enum": ["created", "updated", "unchanged", "rejected"]},
                    "id": {"type": "integer", "description": "The id of the customer (customers:batch) or of the "
                                                             "repair order (repair-orders:batch); absent when "
                                                             "rejected."},
                    "customer_id": {"type": "integer", "description": "repair-orders:batch only: the customer "
                                                                      "the order was linked to."},
                    "errors": {"type": "array", "items": {"type": "object", "required": ["field", "message"],
                                                          "properties": {"field": {"type": "string"},
                                                                         "message": {"type": "string"}}}}}},
                "BatchResponse": {"type": "object", "required": ["results"], "properties": {
                    "results": {"type": "array", "items": {"$ref": "#/components/schemas/ItemResult"}}}},
                "Booking": _booking_out(),
                "BookingPage": {"type": "object", "required": ["bookings", "next_cursor"], "properties": {
                    "bookings": {"type": "array", "items": {"$ref": "#/components/schemas/Booking"}},
                    "next_cursor": {"type": "string", "nullable": True,
                                    "description": "Pass as `cursor` for the next page; null on the last page."}}},
                "Vehicle": _vehicle_out(),
                "Customer": _customer_out(),
            },
        },
    }
