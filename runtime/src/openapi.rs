//! What every service's OpenAPI document writes the same way: schema references, error answers,
//! and the routes that need no token (the document itself, `/healthz`, `/readyz`, `/metrics`).
//! Each document is written as data (`serde_json`) by its crate and defines its own `Error`
//! schema (`{"error", "details"}`), whose details differ per service.

use serde_json::{json, Map, Value};

/// `{"$ref": "#/components/schemas/<name>"}`.
pub fn schema_ref(name: &str) -> Value {
    json!({"$ref": format!("#/components/schemas/{name}")})
}

/// An answer whose body is the document's `Error` schema.
pub fn error_response(description: &str) -> Value {
    json!({"description": description,
        "content": {"application/json": {"schema": schema_ref("Error")}}})
}

/// Adds the routes a service serves without a token: `openapi_path` (the document itself),
/// `/healthz`, `/readyz` (`readyz` says what it checks; its 503 names the backend that does not
/// answer) and `/metrics`, all tagged `meta`.
pub fn add_meta_paths(paths: &mut Map<String, Value>, openapi_path: &str, readyz: &str) {
    paths.insert(
        openapi_path.into(),
        json!({"get": {
            "operationId": "getOpenApi",
            "summary": "This document.",
            "security": [],
            "tags": ["meta"],
            "responses": {"200": {"description": "The OpenAPI document.",
                "content": {"application/json": {"schema": {"type": "object"}}}}}
        }}),
    );
    for (path, id, summary) in [
        ("/healthz", "getHealthz", "Alive: 200 `ok`."),
        ("/readyz", "getReadyz", readyz),
        ("/metrics", "getMetrics", "Prometheus text exposition."),
    ] {
        let mut responses = json!({"200": {"description": "OK.",
            "content": {"text/plain": {"schema": {"type": "string"}}}}});
        if path == "/readyz" {
            responses["503"] = error_response("A backend does not answer.");
        }
        paths.insert(
            path.into(),
            json!({"get": {"operationId": id, "summary": summary, "security": [],
                "tags": ["meta"], "responses": responses}}),
        );
    }
}
