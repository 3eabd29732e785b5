//! The OpenAPI 3.1 document of campaignex's routes, served at `GET /v1/openapi/campaignex.json`.
//!
//! Written as data rather than derived: the object routes are one generic handler per resource,
//! and the object shapes are `spend-domain`'s hand-written parsers, so there are no Rust types to
//! derive from. The enums (fields, operators, units) come from `spend-domain` itself, and a test
//! checks that every route of the router is documented here and nothing else.

use serde_json::{json, Map, Value};
use spend_domain::config::{Field, Op};
use spend_domain::CurrencyCode;
use spend_runtime::openapi::{
    add_meta_paths, decimal_pattern, error_response, not_blank_pattern, schema_ref, DATE_PATTERN,
    UUID_PATTERN, WHITE_SPACE_CLASS,
};
use spend_store::config_store::Resource;

mod notifications;

/// The document.
pub fn document() -> Value {
    let mut paths = Map::new();
    for resource in Resource::ALL {
        let (collection, item) = object_paths(resource);
        paths.insert(format!("/v1/{}", resource.as_str()), collection);
        paths.insert(format!("/v1/{}/{{id}}", resource.as_str()), item);
    }
    paths.insert("/v1/config".into(), config_path());
    notifications::add_path(&mut paths);
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
            "description": "Configuration API: programs, FX rates, campaigns, exclusions \
                (REWARDS.md §2) and missions (docs/missions.md). Every object answers with an `ETag`, its store revision; a `PUT` \
                or `DELETE` with an `If-Match` that is no longer current gets 412. Errors are \
                `{\"error\", \"details\"}`. A cardholder reads and sets their own notification \
                settings at `/v1/me/notifications`.",
        },
        "security": [{"bearer": []}],
        "tags": [
            {"name": "configuration", "description": "Role `admin`."},
            {"name": "cardholder", "description": "Role `customer`: the caller's own settings."},
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

/// RFC 9110's `"*" / #entity-tag` as [`crate::etag::condition`] reads it: `*`, or one or more
/// strong or weak tags separated by commas (empty list elements allowed, as the RFC says).
const CONDITION_PATTERN: &str =
    "^([ \\t]*\\*[ \\t]*|[ \\t,]*(W/)?\"[!#-~]*\"([ \\t]*,[ \\t,]*(W/)?\"[!#-~]*\")*[ \\t,]*)$";

fn conditional_headers() -> Value {
    json!([
        {"name": "If-Match", "in": "header", "required": false,
            "description": "`*` or ETags such as `\"42\"`: write only if the object's current \
                ETag is one of them (412 otherwise; 400 if malformed).",
            "schema": {"type": "string", "pattern": CONDITION_PATTERN}},
        {"name": "If-None-Match", "in": "header", "required": false,
            "description": "`*`, or ETags: write only if the object does not exist, or its \
                current ETag is none of them (412 otherwise; 400 if malformed).",
            "schema": {"type": "string", "pattern": CONDITION_PATTERN}},
    ])
}

fn schema_name(resource: Resource) -> &'static str {
    match resource {
        Resource::Program => "Program",
        Resource::FxRate => "FxRate",
        Resource::Campaign => "Campaign",
        Resource::Exclusion => "Exclusion",
        Resource::Mission => "Mission",
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
        Resource::Campaign | Resource::Exclusion | Resource::Mission => uuid(),
    }
}

fn program_id() -> Value {
    json!({"type": "string", "pattern": "^[a-z0-9_]{1,64}$", "example": "scis_shopping"})
}

/// The currencies an FX rate may be given for: ISO 4217 (`spec/iso4217.txt`) but SGD.
fn currency() -> Value {
    let codes: Vec<&str> = CurrencyCode::all_codes()
        .iter()
        .copied()
        .filter(|c| *c != CurrencyCode::SGD.as_str())
        .collect();
    json!({"type": "string", "enum": codes,
        "description": "An ISO 4217 code (not SGD, which is always 1).", "example": "USD"})
}

fn uuid() -> Value {
    json!({"type": "string", "format": "uuid", "pattern": UUID_PATTERN,
        "description": "Written in lower case by the server; accepted in either case."})
}

/// An id the server assigns when it is absent or null.
fn assigned_uuid() -> Value {
    json!({"type": ["string", "null"], "format": "uuid", "pattern": UUID_PATTERN,
        "description": "Absent or null: the server assigns a v4 UUID. Written in lower case by \
            the server; accepted in either case."})
}

/// A decimal in `0 (or above) ..= 10^max_pow10` with at most `frac` fractional digits: a string,
/// or a JSON integer (read from its literal text).
fn decimal(description: &str, max_pow10: usize, frac: usize, zero: bool) -> Value {
    let max = format!("1{}", "0".repeat(max_pow10));
    let max: u64 = max.parse().unwrap_or(u64::MAX);
    json!({"description": format!("{description} Written as a string; a JSON integer is read \
    from its literal text."),
    "example": "1.35",
    "oneOf": [
        {"type": "string", "pattern": decimal_pattern(max_pow10, frac, zero)},
        {"type": "integer", "minimum": if zero { 0 } else { 1 }, "maximum": max},
    ]})
}

fn date() -> Value {
    json!({"type": ["string", "null"], "format": "date", "pattern": DATE_PATTERN,
        "description": "YYYY-MM-DD, inclusive; null or absent: open."})
}

/// What [`spend_domain`] accepts as a display name: 1 to 200 characters, not only white space,
/// no control characters (they end up in remarks and reports, one line each).
fn name() -> Value {
    const NOT_CONTROL: &str = "[^\\x00-\\x1f\\x7f-\\x9f]";
    let not_space = format!("[^{WHITE_SPACE_CLASS}\\x00-\\x1f\\x7f-\\x9f]");
    json!({"type": "string", "minLength": 1, "maxLength": 200,
        "pattern": format!("^{NOT_CONTROL}*{not_space}{NOT_CONTROL}*$")})
}

fn list_of(name: &str) -> Value {
    json!({"type": "array", "items": schema_ref(name)})
}

/// A list of `PUT /v1/config`: absent or null is an empty list.
fn config_list(name: &str) -> Value {
    json!({"type": ["array", "null"], "items": schema_ref(name),
        "description": "Absent or null: none."})
}

/// A condition: one variant per field and kind of operator, each with the value it takes
/// (REWARDS.md §2). The fields' operators come from `spend-domain` itself.
fn condition(fields: &[&str], ops: &[&str]) -> Value {
    let mut variants = Vec::new();
    for field in Field::ALL {
        let scalar: Vec<&str> = field
            .ops()
            .iter()
            .filter(|op| !matches!(op, Op::In | Op::NotIn | Op::Between))
            .map(|op| op.as_str())
            .collect();
        let lists: Vec<&str> = field
            .ops()
            .iter()
            .filter(|op| matches!(op, Op::In | Op::NotIn))
            .map(|op| op.as_str())
            .collect();
        let one = condition_scalar(field);
        let item = if field == Field::Mcc {
            json!({"anyOf": [one.clone(), pair(&one, "A range of codes, lo ≤ hi.")]})
        } else {
            one.clone()
        };
        let mut add = |ops: Vec<&str>, value: Value| {
            if !ops.is_empty() {
                variants.push(json!({"type": "object", "additionalProperties": false,
                    "required": ["field", "op", "value"],
                    "properties": {"field": {"type": "string", "const": field.as_str()},
                        "op": {"type": "string", "enum": ops},
                        "value": value}}));
            }
        };
        add(scalar, one.clone());
        add(
            lists,
            json!({"type": "array", "minItems": 1, "maxItems": 1000, "items": item}),
        );
        if field.ops().contains(&Op::Between) {
            add(
                vec![Op::Between.as_str()],
                pair(&one, "lo ≤ hi, both inclusive."),
            );
        }
    }
    json!({"description": format!("Which operators fit which field, and the value each takes \
        (REWARDS.md §2): fields {}; operators {}. A pair `[lo, hi]` needs lo ≤ hi, a rule \
        between two values which a schema cannot state.", fields.join(", "), ops.join(", ")),
        "anyOf": variants})
}

/// `[lo, hi]` of `one`.
fn pair(one: &Value, description: &str) -> Value {
    json!({"type": "array", "minItems": 2, "maxItems": 2, "prefixItems": [one, one],
        "items": one, "description": description})
}

/// The value one operand of a condition on `field` takes.
fn condition_scalar(field: Field) -> Value {
    match field {
        Field::Mcc => json!({"type": "integer", "minimum": 1, "maximum": 9999}),
        Field::Amount | Field::AmountSgd => json!({
        "description": "≥ 0, at most 2 fractional digits, and fits a 96-bit decimal (at most \
            79228162514264337593543950335 counting the fraction's digits too): a string, or a \
            JSON integer.",
        "oneOf": [
            {"type": "string", "pattern": "^[0-9]{1,29}(\\.[0-9]{1,2})?$"},
            // The bound, 2^96 - 1 (a 96-bit decimal), is said in words: OpenAPI tools that read
            // numbers as 64-bit ones (utoipa among them) cannot read it as a `maximum`.
            {"type": "integer", "minimum": 0,
                "description": "At most 79228162514264337593543950335 (2^96 - 1)."},
        ]}),
        Field::Merchant => json!({"type": "string", "minLength": 1, "maxLength": 128,
            "pattern": not_blank_pattern(), "description": "Compared case-insensitively."}),
        Field::Currency => json!({"type": "string", "enum": CurrencyCode::all_codes()}),
        // spend-domain's weekday names, Monday first.
        Field::Weekday => json!({"type": "string",
            "enum": ["mon", "tue", "wed", "thu", "fri", "sat", "sun"]}),
        Field::Foreign => json!({"type": "boolean"}),
    }
}

fn schemas() -> Value {
    let fields: Vec<&str> = Field::ALL.iter().map(|f| f.as_str()).collect();
    let ops: Vec<&str> = Op::ALL.iter().map(|o| o.as_str()).collect();
    let config_lists = json!({
        "programs": config_list("Program"),
        "fx_rates": config_list("FxRate"),
        "campaigns": config_list("Campaign"),
        "exclusions": config_list("Exclusion"),
        "missions": config_list("Mission"),
    });
    let mut snapshot_props = json!({
        "programs": list_of("Program"),
        "fx_rates": list_of("FxRate"),
        "campaigns": list_of("Campaign"),
        "exclusions": list_of("Exclusion"),
        "missions": list_of("Mission"),
    });
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
                    6 fractional digits.", 6, 6, false)}},
        "Condition": condition(&fields, &ops),
        "Campaign": {"type": "object", "additionalProperties": false,
            "required": ["name", "program", "kind", "priority", "conditions", "rate"],
            "properties": {"id": assigned_uuid(), "name": name(), "program": program_id(),
                "kind": {"type": "string", "enum": ["base", "promo"]},
                "priority": {"type": "integer", "minimum": i64::MIN, "maximum": i64::MAX,
                    "description": "Higher wins."},
                "start_date": date(), "end_date": date(),
                "conditions": list_of("Condition"),
                "rate": decimal("0 ≤ rate ≤ 10,000, at most 4 fractional digits; per SGD, or a \
                    percentage for cashback.", 4, 4, true)}},
        "Exclusion": {"type": "object", "additionalProperties": false,
            "required": ["name", "programs", "conditions"],
            "properties": {"id": assigned_uuid(), "name": name(),
                "programs": {"type": ["array", "null"], "minItems": 1, "items": program_id(),
                    "description": "The programs it applies to; null for every program."},
                "conditions": list_of("Condition"),
                "valid_from": date(), "valid_until": date()}},
        "Mission": mission_schema(),
        "NotificationSettings": notifications::schema(),
        "Config": {"type": "object", "additionalProperties": false,
            "description": "Shaped like examples/reference-config.json; every list optional.",
            "properties": config_lists},
        "ConfigSnapshot": {"type": "object", "additionalProperties": false,
            "required": ["revision", "programs", "fx_rates", "campaigns", "exclusions"],
            "properties": snapshot_props},
    })
}

/// A mission (docs/missions.md): "spend X within Y days, win Z".
fn mission_schema() -> Value {
    let mut start = date();
    start["type"] = json!("string");
    start["description"] = json!("YYYY-MM-DD, inclusive.");
    json!({"type": "object", "additionalProperties": false,
        "required": ["name", "program", "start_date", "window_days", "target", "conditions",
            "reward"],
        "properties": {"id": assigned_uuid(), "name": name(), "program": program_id(),
            "start_date": start, "end_date": date(),
            "window_days": {"type": "integer", "minimum": 1, "maximum": 366,
                "description": "Days of the window a card's first qualifying purchase opens, \
                    that day included."},
            "target": {"oneOf": [
                {"type": "object", "additionalProperties": false, "required": ["amount_sgd"],
                    "properties": {"amount_sgd": decimal("The SGD to reach: > 0, at most 2 \
                        fractional digits.", 9, 2, false)}},
                {"type": "object", "additionalProperties": false, "required": ["count"],
                    "properties": {"count": {"type": "integer", "minimum": 1,
                        "maximum": 1_000_000}}},
            ]},
            "conditions": list_of("Condition"),
            "reward": decimal("Paid once on completion, in the program's unit: > 0, at most 2 \
                fractional digits.", 9, 2, false)}})
}
