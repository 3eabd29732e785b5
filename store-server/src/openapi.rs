//! The OpenAPI 3.1 document of `spend store`'s routes, served at [`paths::OPENAPI`].
//!
//! Written as data, as the other services' documents are: the bodies are the wire format of
//! [`spend_store::remote`], so there are no types to derive from. The operation descriptions summarise
//! that module's documentation, which stays the reference. A test checks that every route served
//! is documented here and nothing else.

use serde_json::{json, Map, Value};
use spend_runtime::openapi::{add_meta_paths, error_response, schema_ref};

use spend_store::remote::{paths, CONTENT_TYPE, MAX_BODY_BYTES};
use spend_store::reward_store::MAX_PAGE;

/// The document.
pub fn document() -> Value {
    let mut routes = Map::new();
    for (path, op) in [
        (paths::APPLY, apply()),
        (paths::PREFETCH, prefetch()),
        (paths::GET, get_outcome()),
        (paths::HISTORY, history()),
        (paths::SUMMARY, summary()),
        (paths::MISSIONS, missions()),
    ] {
        routes.insert(path.into(), json!({ "post": op }));
    }
    routes.insert(paths::PING.into(), json!({ "get": ping() }));
    add_meta_paths(
        &mut routes,
        paths::OPENAPI,
        "200 `ok` when the reward store answers, 503 naming it otherwise.",
    );
    json!({
        "openapi": "3.1.0",
        "info": {
            "title": "spend store",
            "version": env!("CARGO_PKG_VERSION"),
            "description": "The embedded reward store of one data directory, served to the \
                rewarders (writers) and the informer (reader) of a deployment without ScyllaDB. \
                The store's rules (first reward wins, a reversal counts once) are enforced here; \
                every call is idempotent, so a client retries a 503 or a lost connection. Plain \
                HTTP/1.1: keep it on a private network.\n\n\
                Bodies both ways are `application/octet-stream` in wire format version 1: every \
                body starts with the byte `1` (an apply request that carries mission writes: \
                `2`, see `applyOutcomes`); integers are big-endian; ids are 16 bytes; \
                decimals are `rust_decimal`'s exact 16-byte form; units are 1 points, 2 miles, \
                3 cashback. An *outcome* is a u32 length and the embedded store's compact \
                record (every field re-validated when read); *outcomes* are a u32 count and \
                that many outcomes. A *mission state* is a u32 length and the store's \
                mission codec (one card's state in one mission, with the mission's terms). A \
                *range* is a flags byte (1 from, 2 to) and each date \
                present as an i32 of days from 0001-01-01. A *cursor* is a u16 length (0: none) \
                and the cursor's opaque text.\n\n\
                Errors are JSON `{\"error\", \"details\"}`; the `code` of a detail says what \
                the client should do.",
        },
        "security": [{"bearer": []}],
        "tags": [
            {"name": "store", "description": "Role `service`."},
            {"name": "meta", "description": "No authentication."},
        ],
        "paths": routes,
        "components": {
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer", "bearerFormat": "JWT",
                "description": "A token of role `service` (`spend token --role service`); HS256 \
                    or RS256, as the service is configured; claim `exp` required."}},
            "schemas": schemas(),
        },
    })
}

fn octets(description: &str) -> Value {
    json!({"description": description,
        "content": {CONTENT_TYPE: {"schema": schema_ref("WireBody")}}})
}

fn request_body(description: &str) -> Value {
    let mut body = octets(description);
    body["required"] = json!(true);
    body
}

/// The answers every store route may give besides its own.
fn store_errors(responses: &mut Value) {
    responses["401"] = error_response(
        "No token, or one that is malformed, badly signed, expired or not yet valid.",
    );
    responses["403"] = error_response("The token's role is not `service`.");
    responses["503"] =
        error_response("`unavailable`: the store behind the server is unavailable; retry.");
    responses["500"] = error_response(
        "`corrupt`: the store's own data cannot be read back (the only 500); do not retry.",
    );
}

/// [`store_errors`] and the refusals of a request body.
fn body_errors(responses: &mut Value, bad_request: &str) {
    store_errors(responses);
    responses["400"] = error_response(bad_request);
    responses["413"] = error_response(&format!("`too_large`: a body over {MAX_BODY_BYTES} bytes."));
    responses["415"] = error_response(&format!(
        "`bad_body`: a content type other than `{CONTENT_TYPE}`."
    ));
}

const BAD_BODY: &str = "`bad_body`: the body does not decode (the sentence says why).";

fn post(id: &str, summary: &str, description: &str, request: &str, answer: &str) -> Value {
    let mut responses = json!({ "200": octets(answer) });
    body_errors(&mut responses, BAD_BODY);
    json!({"operationId": id, "summary": summary, "description": description,
        "tags": ["store"], "requestBody": request_body(request), "responses": responses})
}

fn apply() -> Value {
    post(
        "applyOutcomes",
        "Stores a batch of outcomes, with the mission writes they cause.",
        "The first reward of a record wins and a reversal counts once, so a batch applied \
         twice changes nothing the second time. Version 1: outcomes. Version 2 (a batch that \
         carries mission writes or a payout row): a u32 count of outcomes, each followed by \
         its mission writes — a u32 count, each a mission state, then `0`, or `1` and its \
         payout row as an outcome (a rewarded mission payout). An outcome's mission writes are \
         stored in the same atomic write as the outcome, or not at all when its record \
         already has a reward; the payout rows count in `written` and `unchanged`.",
        "Version (1 or 2) · outcomes (version 2: each with its mission writes).",
        "Version · `written` u64 · `unchanged` u64.",
    )
}

fn prefetch() -> Value {
    post(
        "prefetchLedger",
        "What the store already holds for a batch of transactions.",
        "Each transaction travels as a dead-letter outcome whose transaction part is the \
         point (its status and time are ignored). The *ledger* is a u32 count of priors \
         (id 16 · 1 rewarded or 2 dead letter) and a u32 count of originals (id 16 · card id \
         16 · reward · amount · currency 3 ASCII · unit u8 · reversed total).",
        "Version · transactions (as outcomes).",
        "Version · ledger.",
    )
}

fn get_outcome() -> Value {
    post(
        "getOutcome",
        "One record's outcome.",
        "A POST so that the id travels in the wire format, as every other request does.",
        "Version · record id (16).",
        "Version · `0` (none) or `1` · outcome.",
    )
}

fn history() -> Value {
    let mut op = post(
        "getHistory",
        "One page of a card's outcomes.",
        &format!(
            "Newest `transaction_date` first. `limit` is clamped to 1..={MAX_PAGE}; the \
             cursor is the previous page's, for the same card. Paging until the cursor is \
             none returns every outcome in range exactly once."
        ),
        "Version · card id (16) · range · limit u32 · cursor.",
        "Version · outcomes · next cursor.",
    );
    op["responses"]["400"] = error_response(
        "`bad_body`: the body does not decode (the sentence says why); or `invalid_cursor`: \
         a cursor of another card or unreadable (`reason`).",
    );
    op
}

fn summary() -> Value {
    post(
        "getSummary",
        "A card's outcome count and totals per unit.",
        "Reversals count, negative.",
        "Version · card id (16) · range.",
        "Version · count u64 · n u8 · n × (unit u8 · total).",
    )
}

fn missions() -> Value {
    post(
        "getMissions",
        "Cards' states in their missions.",
        "Every state of the cards asked about, in every mission whose window opened for \
         them, by card then mission id; a card with none has no entry.",
        "Version · u32 n · n × card id (16).",
        "Version · u32 n · n × mission state.",
    )
}

fn ping() -> Value {
    let mut responses = json!({"204": {"description": "The store answers."}});
    store_errors(&mut responses);
    json!({"operationId": "pingStore", "summary": "Whether the store answers.",
        "tags": ["store"], "responses": responses})
}

fn schemas() -> Value {
    json!({
        "WireBody": {"type": "string", "contentEncoding": "binary",
            "description": "Wire format version 1, or 2 for an apply request with mission \
                writes (see the API description)."},
        "Error": {"type": "object", "required": ["error", "details"],
            "properties": {
                "error": {"type": "string", "description": "One lowercase sentence."},
                "details": {"type": "array", "items": schema_ref("ErrorDetail"),
                    "description": "One detail naming the code; empty on 401 and 403."}}},
        "ErrorDetail": {"type": "object", "required": ["code"],
            "properties": {
                "code": {"type": "string", "enum": ["bad_body", "invalid_cursor", "too_large",
                    "unavailable", "corrupt"]},
                "reason": {"type": "string",
                    "enum": ["malformed", "other_card", "unsupported_version"],
                    "description": "Why a cursor is refused (`invalid_cursor`)."},
                "version": {"type": "integer",
                    "description": "The cursor's version (`unsupported_version`)."}}},
    })
}
