//! The OpenAPI 3.1 document of campaignex's routes, served at `GET /v1/openapi/campaignex.json`.
//!
//! Written as data rather than derived: the object routes are one generic handler per resource,
//! and the object shapes are `spend-domain`'s hand-written parsers, so there are no Rust types to
//! derive from. The enums (fields, operators, units) come from `spend-domain` itself, and a test
//! checks that every route of the router is documented here and nothing else.

use serde_json::{json, Map, Value};
use spend_domain::config::{Field, Op};
use spend_runtime::openapi::{add_meta_paths, error_response, schema_ref};
use spend_store::config_store::Resource;

/// The document.
pub fn document() -> Value {
    let mut paths = Map::new();
    for resource in Resource::ALL {
        let (collection, item) = object_paths(resource);
        paths.insert(format!("/v1/{}", resource.as_str()), collection);
        paths.insert(format!("/v1/{}/{{id}}", resource.as_str()), item);
    }
    paths.insert("/v1/config".into(), config_path());
    add_meta_paths(
        &mut paths,
        crate::routes::OPENAPI_PATH,
        "200 `ok` when the configuration store answers, 503 naming it otherwise.",
    );
    json!({
        "openapi": "3.1.0",
        "info": {
            "title": "spend campaignex",
            "version": env!("CARGO_PKG_VERSION"),
            "description": "Configuration API: programs, FX rates, campaigns and exclusions \
                (REWARDS.md §2). Every object answers with an `ETag`, its store revision; a `PUT` \
                or `DELETE` with an `If-Match` that is no longer current gets 412. Errors are \
                `{\"error\", \"details\"}`.",
        },
        "security": [{"bearer": []}],
        "tags": [
            {"name": "configuration", "description": "Role `admin`."},
            {"name": "meta", "description": "No authentication."},
        ],
        "paths": paths,
        "components": {
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"}},
            "schemas": schemas(),
        },
    })
}

// Headers and parameters are written inline rather than as `$ref`s: both are valid OpenAPI,
// and inline keeps the document readable by tools (utoipa among them) that resolve only schemas.

fn etag_header() -> Value {
    json!({"description": "The object's version: its store mod revision, quoted.",
        "schema": {"type": "string", "example": "\"42\""}})
}

fn conditional_headers() -> Value {
    json!([
        {"name": "If-Match", "in": "header", "required": false,
            "description": "`*` or ETags such as `\"42\"`: write only if the object's current \
                ETag is one of them (412 otherwise; 400 if malformed).",
            "schema": {"type": "string"}},
        {"name": "If-None-Match", "in": "header", "required": false,
            "description": "`*`, or ETags: write only if the object does not exist, or its \
                current ETag is none of them (412 otherwise; 400 if malformed).",
            "schema": {"type": "string"}},
    ])
}

fn schema_name(resource: Resource) -> &'static str {
    match resource {
        Resource::Program => "Program",
        Resource::FxRate => "FxRate",
        Resource::Campaign => "Campaign",
        Resource::Exclusion => "Exclusion",
    }
}

fn object_response(description: &str, resource: Resource) -> Value {
    json!({"description": description,
        "headers": {"ETag": etag_header()},
        "content": {"application/json": {"schema": schema_ref(schema_name(resource))}}})
}

fn json_body(schema: Value) -> Value {
    json!({"required": true, "content": {"application/json": {"schema": schema}}})
}

/// The answers every configuration route may give.
fn common_errors(responses: &mut Value, with_body: bool) {
    responses["401"] = error_response("No or bad token.");
    responses["403"] = error_response("The token's role is not admin.");
    responses["503"] =
        error_response("The configuration store is unavailable; nothing was written.");
    if with_body {
        responses["400"] =
            error_response("Malformed JSON (the message names line and column) or header.");
        responses["413"] = error_response("The body is larger than the limit.");
        responses["415"] = error_response("The body is not `application/json`.");
        responses["422"] = error_response("Invalid content; `details` name each failing field.");
    }
}

fn object_paths(resource: Resource) -> (Value, Value) {
    let name = schema_name(resource);
    let noun = crate::kinds::noun(resource);
    let key = crate::kinds::key_field(resource);
    let plural = format!("{name}s");

    let mut list = json!({"200": {"description": format!("Every {noun}, ordered by {key}."),
        "content": {"application/json": {"schema": {
            "type": "object", "required": ["items"], "additionalProperties": false,
            "properties": {"items": {"type": "array", "items": schema_ref(name)}}}}}}});
    common_errors(&mut list, false);

    let mut created = json!({"201": object_response(&format!("The stored {noun}."), resource)});
    created["201"]["headers"]["Location"] =
        json!({"description": "The object's path.", "schema": {"type": "string"}});
    created["409"] = error_response(&format!("A {noun} with this {key} exists."));
    common_errors(&mut created, true);
    let create_summary = if crate::kinds::assigns_id(resource) {
        format!("Create a {noun}; the server assigns a v4 UUID `id` when the body has none.")
    } else {
        format!("Create a {noun}, keyed by its `{key}`.")
    };

    let mut got = json!({"200": object_response(&format!("The {noun}."), resource),
        "404": error_response(&format!("No such {noun}."))});
    common_errors(&mut got, false);

    let mut put = json!({"200": object_response(&format!("The stored {noun}."), resource),
        "412": error_response("`If-Match` or `If-None-Match` does not hold.")});
    common_errors(&mut put, true);
    put["400"] = error_response("Malformed JSON or a malformed `If-Match`/`If-None-Match`.");

    let mut deleted = json!({"204": {"description": "Deleted."},
        "404": error_response(&format!("No such {noun}.")),
        "412": error_response("`If-Match` or `If-None-Match` does not hold."),
        "400": error_response("A malformed `If-Match`/`If-None-Match`.")});
    if resource == Resource::Program {
        deleted["409"] =
            error_response("Campaigns or exclusions still name the program; `details` lists them.");
    }
    common_errors(&mut deleted, false);

    let id_param = json!({"name": "id", "in": "path", "required": true,
        "description": format!("The {noun}'s `{key}`."), "schema": key_schema(resource)});
    let tags = json!(["configuration"]);
    let collection = json!({
        "get": {"operationId": format!("list{plural}"), "summary": format!("List {noun}s."),
            "tags": tags, "responses": list},
        "post": {"operationId": format!("create{name}"), "summary": create_summary,
            "tags": tags, "requestBody": json_body(schema_ref(name)), "responses": created},
    });
    let item = json!({
        "parameters": [id_param],
        "get": {"operationId": format!("get{name}"), "summary": format!("Read one {noun}."),
            "tags": tags, "responses": got},
        "put": {"operationId": format!("replace{name}"),
            "summary": format!("Replace the {noun}, or create it when absent (unless `If-Match` \
                asks for an existing version). The body's `{key}` may be omitted; if given it \
                must be the path's (422 otherwise)."),
            "tags": tags,
            "parameters": conditional_headers(),
            "requestBody": json_body(schema_ref(name)), "responses": put},
        "delete": {"operationId": format!("delete{name}"), "summary": format!("Delete the {noun}."),
            "tags": tags,
            "parameters": conditional_headers(),
            "responses": deleted},
    });
    (collection, item)
}

fn config_path() -> Value {
    let mut got = json!({"200": {"description": "The whole configuration at one revision, each \
            list ordered by key.",
        "content": {"application/json": {"schema": schema_ref("ConfigSnapshot")}}}});
    common_errors(&mut got, false);
    let mut put = json!({"200": {"description": "Stored, as one atomic write.",
        "content": {"application/json": {"schema": {"type": "object", "required": ["revision"],
            "properties": {"revision": {"type": "integer"}}}}}}});
    common_errors(&mut put, true);
    json!({
        "get": {"operationId": "getConfig", "summary": "Read the whole configuration.",
            "tags": ["configuration"], "responses": got},
        "put": {"operationId": "replaceConfig",
            "summary": "Replace the whole configuration atomically. Objects keep the ids the \
                document gives them; campaigns and exclusions without one get a v4 UUID.",
            "tags": ["configuration"], "requestBody": json_body(schema_ref("Config")),
            "responses": put},
    })
}

fn key_schema(resource: Resource) -> Value {
    match resource {
        Resource::Program => program_id(),
        Resource::FxRate => currency(),
        Resource::Campaign | Resource::Exclusion => uuid(),
    }
}

fn program_id() -> Value {
    json!({"type": "string", "pattern": "^[a-z0-9_]{1,64}$", "example": "scis_shopping"})
}

fn currency() -> Value {
    json!({"type": "string", "pattern": "^[A-Z]{3}$",
        "description": "An ISO 4217 code (not SGD, which is always 1).", "example": "USD"})
}

fn uuid() -> Value {
    json!({"type": "string", "format": "uuid",
        "description": "Written in lower case by the server; accepted in either case."})
}

fn decimal(description: &str) -> Value {
    json!({"type": ["string", "number"], "description": format!("{description} Written as a \
        string; a JSON number is read from its literal text, without an exponent."),
        "example": "1.35"})
}

fn date() -> Value {
    json!({"type": ["string", "null"], "format": "date", "description": "YYYY-MM-DD, inclusive."})
}

fn name() -> Value {
    json!({"type": "string", "minLength": 1, "maxLength": 200})
}

fn list_of(name: &str) -> Value {
    json!({"type": "array", "items": schema_ref(name)})
}

fn schemas() -> Value {
    let fields: Vec<&str> = Field::ALL.iter().map(|f| f.as_str()).collect();
    let ops: Vec<&str> = Op::ALL.iter().map(|o| o.as_str()).collect();
    let config_lists = json!({
        "programs": list_of("Program"),
        "fx_rates": list_of("FxRate"),
        "campaigns": list_of("Campaign"),
        "exclusions": list_of("Exclusion"),
    });
    let mut snapshot_props = config_lists.clone();
    snapshot_props["revision"] = json!({"type": "integer",
        "description": "The store revision the configuration was read at."});
    json!({
        "Error": {"type": "object", "required": ["error", "details"],
            "properties": {
                "error": {"type": "string", "description": "One lowercase sentence."},
                "details": {"type": "array", "items": {"type": "object"},
                    "description": "For 422: `{\"field\", \"message\"}` per failing field."}}},
        "FieldError": {"type": "object", "required": ["field", "message"],
            "properties": {"field": {"type": "string"}, "message": {"type": "string"}}},
        "Program": {"type": "object", "additionalProperties": false,
            "required": ["id", "name", "unit"],
            "properties": {"id": program_id(), "name": name(),
                "unit": {"type": "string", "enum": ["points", "miles", "cashback"]}}},
        "FxRate": {"type": "object", "additionalProperties": false,
            "required": ["currency", "rate"],
            "properties": {"currency": currency(),
                "rate": decimal("SGD per one unit of the currency: 0 < rate ≤ 1,000,000, at most \
                    6 fractional digits.")}},
        "Condition": {"type": "object", "additionalProperties": false,
            "required": ["field", "op", "value"],
            "description": "Which ops fit which field, and the value each takes: REWARDS.md §2.",
            "properties": {"field": {"type": "string", "enum": fields},
                "op": {"type": "string", "enum": ops},
                "value": {"description": "A scalar or a list, by field and op.",
                    "anyOf": [{"type": "integer"}, {"type": "string"}, {"type": "boolean"},
                        {"type": "array"}]}}},
        "Campaign": {"type": "object", "additionalProperties": false,
            "required": ["name", "program", "kind", "priority", "conditions", "rate"],
            "properties": {"id": uuid(), "name": name(), "program": program_id(),
                "kind": {"type": "string", "enum": ["base", "promo"]},
                "priority": {"type": "integer", "description": "Higher wins."},
                "start_date": date(), "end_date": date(),
                "conditions": list_of("Condition"),
                "rate": decimal("0 ≤ rate ≤ 10,000, at most 4 fractional digits; per SGD, or a \
                    percentage for cashback.")}},
        "Exclusion": {"type": "object", "additionalProperties": false,
            "required": ["name", "programs", "conditions"],
            "properties": {"id": uuid(), "name": name(),
                "programs": {"type": ["array", "null"], "minItems": 1, "items": program_id(),
                    "description": "The programs it applies to; null for every program."},
                "conditions": list_of("Condition"),
                "valid_from": date(), "valid_until": date()}},
        "Config": {"type": "object", "additionalProperties": false,
            "description": "Shaped like examples/reference-config.json; every list optional.",
            "properties": config_lists},
        "ConfigSnapshot": {"type": "object", "additionalProperties": false,
            "required": ["revision", "programs", "fx_rates", "campaigns", "exclusions"],
            "properties": snapshot_props},
    })
}
