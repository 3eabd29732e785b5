//! The OpenAPI 3.1 document of the informer's routes, served at `GET /v1/openapi/informer.json`.
//!
//! Written as data, as campaignex's is: the answers are serialized by hand from the stored
//! values, so there are no response types to derive from. A test checks that every route of the
//! router is documented here and nothing else.

use serde_json::{json, Map, Value};
use spend_runtime::openapi::{add_meta_paths, error_response, schema_ref};
use spend_store::reward_store::MAX_PAGE;

use crate::query::DEFAULT_LIMIT;
use crate::routes::{HISTORY_PATH, MISSIONS_PATH, OPENAPI_PATH, RECORD_PATH, SUMMARY_PATH};

/// The document.
pub fn document() -> Value {
    let mut paths = Map::new();
    paths.insert(HISTORY_PATH.into(), history_path());
    paths.insert(SUMMARY_PATH.into(), summary_path());
    paths.insert(RECORD_PATH.into(), record_path());
    paths.insert(MISSIONS_PATH.into(), missions_path());
    add_meta_paths(
        &mut paths,
        OPENAPI_PATH,
        "200 `ok` when the reward store answers, 503 naming it otherwise.",
    );
    json!({
        "openapi": "3.1.0",
        "info": {
            "title": "spend informer",
            "version": env!("CARGO_PKG_VERSION"),
            "description": "Rewards read API: a card's history and summary, and one record's \
                outcome. Only rewarded outcomes (purchases, excluded purchases at 0.00, \
                reversals) are in a card's history and summary; a dead letter is visible by id. \
                Card routes take role `admin`, or `customer` for the cards in the token's \
                `cards` claim; the record route takes `admin`. Decimals are strings with 2 \
                fractional digits. Errors are `{\"error\", \"details\"}`. Unknown query \
                parameters are ignored; a known one that is empty (`?to=`) is malformed like any \
                other value not of its type (400), and one given twice is a 400.",
        },
        "security": [{"bearer": []}],
        "tags": [
            {"name": "rewards", "description": "Role `admin`, or `customer` for its own cards."},
            {"name": "records", "description": "Role `admin`."},
            {"name": "meta", "description": "No authentication."},
        ],
        "paths": paths,
        "components": {
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer", "bearerFormat": "JWT",
                "description": "HS256 or RS256, as the service is configured; claims `exp` \
                    (required), `nbf` (checked if present; 30 s leeway on both), `role`, `cards` \
                    (customer), `sub` (optional)."}},
            "schemas": schemas(),
        },
    })
}

fn json_response(description: &str, schema: Value) -> Value {
    json!({"description": description, "content": {"application/json": {"schema": schema}}})
}

fn card_param() -> Value {
    json!({"name": "card_id", "in": "path", "required": true,
        "description": "The card's id.", "schema": uuid()})
}

fn date_param(name: &str, description: &str) -> Value {
    json!({"name": name, "in": "query", "required": false, "description": description,
        "schema": date()})
}

/// `YYYY-MM-DD`, a real calendar date.
fn date() -> Value {
    json!({"type": "string", "format": "date", "pattern": "^[0-9]{4}-[0-9]{2}-[0-9]{2}$"})
}

fn range_params() -> Vec<Value> {
    vec![
        date_param(
            "from",
            "The earliest `transaction_date`, inclusive, YYYY-MM-DD.",
        ),
        date_param(
            "to",
            "The latest `transaction_date`, inclusive, YYYY-MM-DD; not before `from` (400: a \
             rule between two parameters, which a schema cannot state).",
        ),
    ]
}

/// The answers every card route may give besides its own.
fn card_errors(responses: &mut Value) {
    responses["400"] = error_response(
        "A malformed `card_id`, date, `limit` or `cursor`, `from` after `to`, or a parameter \
         given twice; the message names it.",
    );
    responses["401"] = error_response(
        "No token, or a token that is malformed, badly signed, \
        expired or not yet valid.",
    );
    responses["403"] = error_response(
        "The token's role is `bank`, or a `customer` token that does not list this card.",
    );
    responses["503"] = error_response("The reward store is unavailable.");
}

fn history_path() -> Value {
    let mut params = vec![card_param()];
    params.extend(range_params());
    params.push(json!({"name": "limit", "in": "query", "required": false,
        "description": format!("Items per page, 1 to {MAX_PAGE}; default {DEFAULT_LIMIT}."),
        "schema": {"type": "integer", "minimum": 1, "maximum": MAX_PAGE,
            "default": DEFAULT_LIMIT}}));
    params.push(json!({"name": "cursor", "in": "query", "required": false,
        "description": "The `next_cursor` of the previous page, for the same card. Opaque: \
            44 base64url characters carrying a check and the card it was issued for, so a \
            mistyped or edited cursor, or one of another card, is a 400 though it fits the \
            pattern. A cursor is a position: it stays valid if `from`/`to` change.",
        "schema": cursor()}));
    let mut responses = json!({"200": json_response(
        "One page, newest `transaction_date` first, ties by `id` descending. Paging with \
         `next_cursor` until it is null returns every outcome in range exactly once.",
        schema_ref("RewardPage"))});
    card_errors(&mut responses);
    json!({"get": {"operationId": "getCardRewards",
        "summary": "A card's rewards history, one page at a time.",
        "tags": ["rewards"], "parameters": params, "responses": responses}})
}

fn summary_path() -> Value {
    let mut params = vec![card_param()];
    params.extend(range_params());
    let mut responses = json!({"200": json_response(
        "How many rewarded outcomes the card has in range, and their total per unit \
         (reversals count, negative).", schema_ref("Summary"))});
    card_errors(&mut responses);
    json!({"get": {"operationId": "getCardSummary",
        "summary": "A card's reward count and totals per unit.",
        "tags": ["rewards"], "parameters": params, "responses": responses}})
}

fn missions_path() -> Value {
    let mut responses = json!({"200": json_response(
        "The card's progress in every mission whose window opened for it, newest window          first (docs/missions.md). A mission shows the terms it had when the card's state last          changed.", schema_ref("CardMissions"))});
    card_errors(&mut responses);
    json!({"get": {"operationId": "getCardMissions",
        "summary": "A card's missions: progress, status, window and reward.",
        "tags": ["rewards"], "parameters": [card_param()], "responses": responses}})
}

fn record_path() -> Value {
    json!({"get": {"operationId": "getTransactionOutcome",
    "summary": "One record's outcome: rewarded, or dead-lettered with its reason.",
    "tags": ["records"],
    "parameters": [{"name": "id", "in": "path", "required": true,
        "description": "The record's `id`.", "schema": uuid()}],
    "responses": {
        "200": json_response("The outcome.", json!({"oneOf": [
            schema_ref("RewardedRecord"), schema_ref("DeadLetterRecord")]})),
        "400": error_response("`id` is not a UUID."),
        "401": error_response("No or bad token."),
        "403": error_response("The token's role is not `admin`."),
        "404": error_response("No outcome is stored for this id."),
        "503": error_response("The reward store is unavailable."),
    }}})
}

/// What [`spend_store::reward_store::Cursor::encode`] writes: 33 bytes in base64url, unpadded.
fn cursor() -> Value {
    json!({"type": "string", "pattern": "^[A-Za-z0-9_-]{44}$"})
}

fn uuid() -> Value {
    json!({"type": "string", "format": "uuid",
        "pattern": "^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$",
        "description": "Written in lower case by the server; accepted in either case."})
}

fn decimal(description: &str) -> Value {
    json!({"type": "string", "pattern": "^-?[0-9]+\\.[0-9]{2}$",
        "description": description, "example": "12.30"})
}

fn nullable(mut schema: Value) -> Value {
    let t = schema["type"].clone();
    schema["type"] = json!([t, "null"]);
    if let Some(p) = schema.as_object_mut() {
        p.remove("pattern");
    }
    schema
}

const REWARD_FIELDS: [&str; 21] = [
    "id",
    "transaction_id",
    "card_id",
    "card_pan",
    "program",
    "unit",
    "merchant",
    "mcc",
    "currency",
    "amount",
    "amount_sgd",
    "transaction_date",
    "type",
    "original_id",
    "reward",
    "base_campaign",
    "promo_campaign",
    "remark",
    "config_revision",
    "processed_at",
    "mission_id",
];

fn reward_properties() -> Map<String, Value> {
    let p = json!({
        "id": uuid(),
        "transaction_id": {"type": "string", "description": "The bank's own reference."},
        "card_id": uuid(),
        "card_pan": {"type": "string", "pattern": "^[0-9]{6}\\*{3,9}[0-9]{4}$",
            "description": "The masked PAN: first 6 and last 4 digits.",
            "example": "411111******1111"},
        "program": {"type": "string", "pattern": "^[a-z0-9_]{1,64}$",
            "description": "The card program (`card_type`).", "example": "scis_shopping"},
        "unit": {"type": "string", "enum": ["points", "miles", "cashback"]},
        "merchant": {"type": "string"},
        "mcc": {"type": "integer", "minimum": 1, "maximum": 9999},
        "currency": {"type": "string", "pattern": "^[A-Z]{3}$"},
        "amount": decimal("In `currency`."),
        "amount_sgd": nullable(decimal("In SGD; null for a reversal.")),
        "transaction_date": {"type": "string", "format": "date"},
        "type": {"type": "string", "enum": ["purchase", "reversal", "mission", "mission_clawback"],
            "description": "`mission` and `mission_clawback` are mission payout rows: the \
                reward of a completed mission, or the clawback of one when a reversal takes it \
                below its target. A payout row carries the fields of the transaction that \
                caused it under its own id."},
        "original_id": {"type": ["string", "null"], "format": "uuid",
            "description": "For a reversal: the purchase it reverses."},
        "reward": decimal("In `unit`; negative or 0.00 for a reversal, 0.00 when excluded."),
        "base_campaign": {"type": ["string", "null"], "format": "uuid"},
        "promo_campaign": {"type": ["string", "null"], "format": "uuid"},
        "remark": {"type": "string"},
        "config_revision": {"type": "integer",
            "description": "The configuration revision the reward was computed with."},
        "processed_at": {"type": "string", "format": "date-time",
            "description": "When it was rewarded, UTC, RFC 3339 with milliseconds."},
        "mission_id": {"type": ["string", "null"], "format": "uuid",
            "description": "For a mission payout row: the mission; null otherwise."},
    });
    match p {
        Value::Object(m) => m,
        _ => Map::new(),
    }
}

fn schemas() -> Value {
    let mut rewarded = reward_properties();
    rewarded.insert(
        "status".into(),
        json!({"type": "string", "const": "rewarded"}),
    );
    let mut rewarded_required: Vec<&str> = REWARD_FIELDS.to_vec();
    rewarded_required.push("status");
    json!({
        "Error": {"type": "object", "required": ["error", "details"],
            "properties": {
                "error": {"type": "string", "description": "One lowercase sentence."},
                "details": {"type": "array", "items": {"type": "object"}}}},
        "Reward": {"type": "object", "additionalProperties": false,
            "required": REWARD_FIELDS, "properties": reward_properties()},
        "RewardPage": {"type": "object", "additionalProperties": false,
            "required": ["items", "next_cursor"],
            "properties": {
                "items": {"type": "array", "items": schema_ref("Reward")},
                "next_cursor": {"type": ["string", "null"],
                    "pattern": "^[A-Za-z0-9_-]{44}$",
                    "description": "Pass as `cursor` for the next page; null on the last one."}}},
        "Summary": {"type": "object", "additionalProperties": false,
            "required": ["card_id", "count", "totals"],
            "properties": {
                "card_id": uuid(),
                "count": {"type": "integer", "minimum": 0},
                "totals": {"type": "array", "description": "One per unit with outcomes, in \
                    the order points, miles, cashback.",
                    "items": {"type": "object", "additionalProperties": false,
                        "required": ["unit", "reward"],
                        "properties": {
                            "unit": {"type": "string", "enum": ["points", "miles", "cashback"]},
                            "reward": decimal("The sum of the rewards in this unit.")}}}}},
        "CardMissions": {"type": "object", "additionalProperties": false,
            "required": ["items"],
            "properties": {"items": {"type": "array", "items": schema_ref("CardMission")}}},
        "CardMission": {"type": "object", "additionalProperties": false,
            "required": ["mission_id", "name", "status", "progress_amount_sgd",
                "progress_count", "target", "window_start", "window_end", "reward", "unit",
                "completed_at", "completions"],
            "properties": {
                "mission_id": uuid(),
                "name": {"type": "string"},
                "status": {"type": "string", "enum": ["in_progress", "completed", "expired"],
                    "description": "`completed` while a reward stands; `expired` when the \
                        window ended before today (UTC) without completing; `in_progress` \
                        otherwise (a clawed-back mission too)."},
                "progress_amount_sgd": decimal("Qualifying spend counted in the window, SGD."),
                "progress_count": {"type": "integer", "minimum": 0},
                "target": {"oneOf": [
                    {"type": "object", "additionalProperties": false,
                        "required": ["amount_sgd"], "properties": {"amount_sgd": decimal("SGD.")}},
                    {"type": "object", "additionalProperties": false,
                        "required": ["count"],
                        "properties": {"count": {"type": "integer", "minimum": 1}}}]},
                "window_start": date(),
                "window_end": date(),
                "reward": decimal("What completing pays, in `unit`."),
                "unit": {"type": "string", "enum": ["points", "miles", "cashback"]},
                "completed_at": {"type": ["string", "null"], "format": "date",
                    "description": "The date of the purchase that completed the standing \
                        reward; null when none stands."},
                "completions": {"type": "integer", "minimum": 0,
                    "description": "How many times it completed (a clawback does not lower \
                        it)."}}},
        "RewardedRecord": {"type": "object", "additionalProperties": false,
            "required": rewarded_required, "properties": rewarded},
        "DeadLetterRecord": {"type": "object", "additionalProperties": false,
            "required": ["id", "status", "reason"],
            "properties": {
                "id": uuid(),
                "status": {"type": "string", "const": "dead_letter"},
                "reason": {"type": "string", "enum": ["unknown_program", "no_fx_rate",
                    "original_not_found", "currency_mismatch", "undecodable"]}}},
    })
}
