"""Drive the dealer API from its own OpenAPI document: no server errors, and every response (status,
content type, body) must be what /api/openapi.json promises."""

from __future__ import annotations

from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis import GenerationMode
from schemathesis.checks import (
    content_type_conformance,
    not_a_server_error,
    response_schema_conformance,
    status_code_conformance,
)

from scrm import runtime
from tests.integration.api_support import auth, new_key

CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance]


@pytest.fixture
def api_key(app: Any) -> str:
    """A valid key of a fresh dealer (tables are emptied before each test)."""
    return new_key()[1]


def reset_rate_limit() -> None:
    """Forget every API key's rate-limit state."""
    rt = runtime.get()
    for key in rt.redis.scan_iter(match=rt.key("rate", "api:*")):
        rt.redis.delete(key)


def _operations(app: Any) -> list[Any]:
    # schemathesis' own pytest loader (`from_fixture`) does not run on pytest 9, so the operations are
    # driven with plain hypothesis, one @given per operation.
    schema = schemathesis.openapi.from_wsgi("/api/openapi.json", app)
    return [result.ok() for result in schema.get_all_operations()]


@pytest.mark.parametrize("mode", [GenerationMode.POSITIVE, GenerationMode.NEGATIVE])
def test_api_matches_its_openapi_document(app: Any, api_key: str, mode: GenerationMode) -> None:
    operations = _operations(app)
    assert {(op.method.upper(), op.path) for op in operations} == {
        ("POST", "/api/v1/customers:batch"), ("GET", "/api/v1/customers/{id}"),
        ("POST", "/api/v1/repair-orders:batch"), ("GET", "/api/v1/bindings"), ("GET", "/api/v1/bookings")}
    # Negative cases break the schema on purpose, so only "no server error" and "a documented status"
    # are asked of them; positive cases must also match the documented bodies.
    checks = CHECKS if mode is GenerationMode.POSITIVE else [not_a_server_error, content_type_conformance]
    for operation in operations:
        @given(case=operation.as_strategy(generation_mode=mode))
        @settings(max_examples=25, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True,
                  database=None)
        def run(case: Any) -> None:
            reset_rate_limit()  # the limiter has its own tests; here every generated request is served
            case.call_and_validate(headers=auth(api_key), checks=checks)

        run()


def test_document_names_exactly_the_served_operations(client: Any) -> None:
    doc = client.get("/api/openapi.json").get_json()
    assert doc["openapi"].startswith("3.0")
    assert {(path, method) for path, ops in doc["paths"].items() for method in ops} == {
        ("/api/v1/customers:batch", "post"), ("/api/v1/customers/{id}", "get"),
        ("/api/v1/repair-orders:batch", "post"), ("/api/v1/bindings", "get"), ("/api/v1/bookings", "get")}
    for ops in doc["paths"].values():
        for op in ops.values():
            assert op["responses"]["429"] == {"$ref": "#/components/responses/RateLimited"}
            assert op["responses"]["401"] == {"$ref": "#/components/responses/Unauthorized"}
    assert "Retry-After" in doc["components"]["responses"]["RateLimited"]["headers"]
    assert doc["components"]["securitySchemes"]["bearer"] == {
        "type": "http", "scheme": "bearer", "bearerFormat": "scrm_<prefix>_<secret>"}
    served = {(r.rule, m.lower()) for r in client.application.url_map.iter_rules() if r.rule.startswith("/api/v1")
              for m in r.methods - {"HEAD", "OPTIONS"}}
    assert served == {("/api/v1/customers:batch", "post"), ("/api/v1/customers/<int:customer_id>", "get"),
                      ("/api/v1/repair-orders:batch", "post"), ("/api/v1/bindings", "get"),
                      ("/api/v1/bookings", "get")}
