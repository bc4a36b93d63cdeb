"""The OpenAPI document and the Flask routes describe the same API, both ways."""

from __future__ import annotations

import re

from jsonschema import Draft202012Validator

from web.api.problems import PREFIX

IGNORED_METHODS = {"HEAD", "OPTIONS"}


def routes_of(app) -> set[tuple[str, str]]:
    found = set()
    for rule in app.url_map.iter_rules():
        if rule.endpoint == "static" or rule.endpoint.startswith("console."):
            continue  # the console's pages are HTML for people, not part of the REST API
        path = re.sub(r"<(?:\w+:)?(\w+)>", r"{\1}", rule.rule)
        found |= {(method, path) for method in rule.methods - IGNORED_METHODS}
    return found


def operations_of(document) -> set[tuple[str, str]]:
    return {(method.upper(), path) for path, item in document["paths"].items() for method in item}


def test_every_route_is_documented_and_every_documented_route_exists(app, client):
    document = client.get(f"{PREFIX}/openapi.json").json
    routes, documented = routes_of(app), operations_of(document)
    assert routes - documented == set(), "routes missing from the OpenAPI document"
    assert documented - routes == set(), "documented operations with no route"
    assert all(path.startswith(PREFIX) for _, path in routes)


def test_the_check_catches_an_undocumented_route(app, client):
    app.add_url_rule(f"{PREFIX}/secret", "secret", lambda: "x")
    document = client.get(f"{PREFIX}/openapi.json").json
    assert routes_of(app) - operations_of(document) == {("GET", f"{PREFIX}/secret")}


def test_document_is_openapi_3_1_with_valid_schemas(client):
    document = client.get(f"{PREFIX}/openapi.json").json
    assert document["openapi"].startswith("3.1")
    for path, item in document["paths"].items():
        for method, operation in item.items():
            assert operation["responses"], (method, path)
            for name in re.findall(r"\{(\w+)\}", path):
                assert any(p["name"] == name and p["in"] == "path" for p in operation.get("parameters", [])), (path, name)
            schemas = [p["schema"] for p in operation.get("parameters", [])]
            schemas += [c["schema"] for c in operation.get("requestBody", {}).get("content", {}).values()]
            schemas += [c["schema"] for r in operation["responses"].values() for c in r.get("content", {}).values()]
            for schema in schemas:
                Draft202012Validator.check_schema(schema)
    ids = [op["operationId"] for item in document["paths"].values() for op in item.values()]
    assert len(ids) == len(set(ids))


def test_public_operations_are_only_health_and_the_document(client):
    document = client.get(f"{PREFIX}/openapi.json").json
    public = {path for path, item in document["paths"].items() for op in item.values() if op.get("security") == []}
    assert public == {f"{PREFIX}/health", f"{PREFIX}/openapi.json"}
