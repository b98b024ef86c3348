"""Enforcement's OpenAPI document says what its routes answer, in the one error shape."""

from typing import Any

from services.enforcement.app import create_app

ERROR = "#/components/schemas/Error"


def operations() -> dict[tuple[str, str], dict[str, Any]]:
    doc = create_app().openapi()
    return {
        (method.upper(), path): op
        for path, ops in doc["paths"].items()
        if path.startswith("/v1/")
        for method, op in ops.items()
    }


def error_codes(op: dict[str, Any]) -> set[str]:
    return {
        code
        for code, response in op["responses"].items()
        if response.get("content", {}).get("application/json", {}).get("schema", {}).get("$ref")
        == ERROR
    }


def test_every_route_documents_its_errors_in_the_one_error_shape() -> None:
    ops = operations()
    assert len(ops) == 13  # nine enforcement routes and four KPI routes
    for key, op in ops.items():
        assert {"401", "403", "422"} <= error_codes(op), key
        # FastAPI's own validation model is never advertised: the body is the error shape.
        assert "HTTPValidationError" not in str(op["responses"]), key


def test_routes_that_answer_404_409_or_413_say_so() -> None:
    ops = operations()
    assert "404" in error_codes(ops[("GET", "/v1/actions/{action_id}")])
    assert {"404", "413"} <= error_codes(ops[("POST", "/v1/actions/{action_id}/confirmations")])
    assert {"404", "409", "413"} <= error_codes(ops[("POST", "/v1/appeals")])


def test_audit_time_range_and_cross_client_scope_are_documented() -> None:
    ops = operations()
    params = {p["name"]: p for p in ops[("GET", "/v1/audit")]["parameters"]}
    assert "not after `until`" in params["since"]["description"]
    assert params["since"]["schema"]["anyOf"][0]["format"] == "date-time"
    for route in ("/v1/audit/verify", "/v1/audit/checkpoints"):
        assert "enforcement:read_all" in ops[("GET", route)]["description"]
