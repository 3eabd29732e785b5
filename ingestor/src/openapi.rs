//! The OpenAPI 3.1 document of the ingestor's routes, served at `GET /v1/openapi/ingestor.json`.
//!
//! Written as data, like campaignex's: the request bodies are validated by `spend-domain`'s
//! hand-written parsers, not derived types. A test checks that every route is documented.

use serde_json::{json, Map, Value};
use spend_domain::csv::{COLUMNS_BASE, COLUMNS_WITH_TYPE};
use spend_domain::CurrencyCode;
use spend_runtime::openapi::{
    add_meta_paths, decimal_pattern, error_response, not_blank_pattern, schema_ref, DATE_PATTERN,
    UUID_PATTERN,
};

use crate::routes::{OPENAPI_PATH, SCHEMAS_PATH, SCHEMA_PATH};

/// An S3 object key of the characters AWS calls safe (`0-9 a-z A-Z ! - _ . * ' ( )`), in
/// `/`-separated segments, none empty, none starting or ending with `.`.
const S3_KEY_PATTERN: &str =
    "^[0-9A-Za-z!_*'()-]+(\\.[0-9A-Za-z!_*'()-]+)*(/[0-9A-Za-z!_*'()-]+(\\.[0-9A-Za-z!_*'()-]+)*)*$";

fn batch_error(description: &str) -> Value {
    json!({"description": description,
        "content": {"application/json": {"schema": schema_ref("BatchError")}}})
}

fn auth_errors(responses: &mut Value) {
    responses["401"] = error_response("No or bad token.");
    responses["403"] = error_response("The token's role is not bank.");
}

/// The document.
pub fn document() -> Value {
    let mut paths = Map::new();

    let mut tx = json!({
        "202": {"description": "Durably in Kafka.",
            "content": {"application/json": {"schema": {"type": "object",
                "required": ["id", "status"],
                "properties": {"id": {"type": "string", "format": "uuid"},
                    "status": {"const": "accepted"}}}}}},
        "400": error_response("Malformed JSON."),
        "413": error_response("The body is larger than the limit."),
        "415": error_response("The body is not `application/json`."),
        "422": error_response("Invalid transaction: one detail `{field, message}` per failing field, in column order."),
        "503": error_response("Kafka did not acknowledge the transaction; send it again (the `id` makes that safe)."),
    });
    auth_errors(&mut tx);
    paths.insert(
        "/v1/transactions".into(),
        json!({"post": {"operationId": "postTransaction", "tags": ["ingest"],
            "summary": "Ingest one transaction: validated, PAN masked, published keyed by card.",
            "requestBody": {"required": true, "content": {"application/json": {"schema": schema_ref("Transaction")}}},
            "responses": tx}}),
    );

    let mut upload = json!({
        "200": {"description": "Every accepted row is durably in Kafka.",
            "content": {"application/json": {"schema": schema_ref("BatchSummary")}}},
        "400": batch_error("The upload broke off; `details[0]` says what was stored."),
        "413": batch_error("Over the byte limit (refused before reading when `Content-Length` says so) or the row limit; rows before the limit stand, as `details[0]` counts them."),
        "415": error_response("The body is not `text/csv`."),
        "422": batch_error("The file is refused from a line on (header, quoting, UTF-8, row size); rows before that line stand, as `details[0]` counts them."),
        "429": error_response("The limit of concurrent batches is reached; try again later."),
        "503": batch_error("Kafka did not acknowledge every accepted row: `details[0].accepted` rows are stored; send the file again (rows are recognised by `id`)."),
    });
    auth_errors(&mut upload);
    paths.insert(
        "/v1/batches".into(),
        json!({"post": {"operationId": "postBatch", "tags": ["ingest"],
            "summary": "Ingest a CSV file streamed as the body (REWARDS.md §1 framing).",
            "requestBody": {"required": true, "content": {"text/csv": {"schema": csv_file()}}},
            "responses": upload}}),
    );

    let mut s3 = json!({
        "202": {"description": "Started; poll `GET /v1/batches/{batch_id}`.",
            "headers": {"Location": {"schema": {"type": "string"}}},
            "content": {"application/json": {"schema": {"type": "object", "required": ["batch_id"],
                "properties": {"batch_id": {"type": "string", "format": "uuid"}}}}}},
        "400": error_response("Malformed JSON."),
        "413": error_response("The object is larger than the byte limit."),
        "415": error_response("The body is not `application/json`."),
        "422": error_response("Missing `bucket` or `key`, or no such object (details name the field)."),
        "429": error_response("The limit of concurrent batches is reached; try again later."),
        "503": error_response("S3 does not answer, or is not configured."),
    });
    auth_errors(&mut s3);
    paths.insert(
        "/v1/batches/s3".into(),
        json!({"post": {"operationId": "postS3Batch", "tags": ["ingest"],
            "summary": "Ingest a CSV object from S3 in the background.",
            "requestBody": {"required": true, "content": {"application/json": {"schema": {
                "type": "object", "required": ["bucket", "key"], "additionalProperties": false,
                "properties": {
                    "bucket": {"type": "string", "pattern": "^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$"},
                    "key": {"type": "string", "maxLength": 200, "pattern": S3_KEY_PATTERN,
                        "description": "An object key of S3's safe characters, in `/`-separated \
                            segments (no empty, `.` or `..` segment): a key any S3 store, \
                            `spend dev`'s file-backed one included, keeps as is. Another key is \
                            looked for too; it is found only if the store has it."}}}}}},
            "responses": s3}}),
    );

    let mut status = json!({
        "200": {"description": "The batch's state.",
            "content": {"application/json": {"schema": schema_ref("BatchStatus")}}},
        "400": error_response("The id is not a UUID."),
        "404": error_response("Unknown batch (batches are kept in memory; a restart forgets them)."),
    });
    auth_errors(&mut status);
    paths.insert(
        "/v1/batches/{batch_id}".into(),
        json!({"get": {"operationId": "getBatch", "tags": ["ingest"],
            "summary": "A batch's progress and outcome (uploads and S3 batches).",
            "parameters": [{"name": "batch_id", "in": "path", "required": true,
                "schema": {"type": "string", "format": "uuid"}}],
            "responses": status}}),
    );

    schema_paths(&mut paths);
    add_meta_paths(
        &mut paths,
        OPENAPI_PATH,
        "200 `ok` when Kafka answers and the topic exists, 503 naming it otherwise.",
    );
    json!({
        "openapi": "3.1.0",
        "info": {
            "title": "spend ingestor",
            "version": env!("CARGO_PKG_VERSION"),
            "description": "Ingest card transactions (REWARDS.md §1): one at a time, as a CSV \
                upload, or from S3. Valid records are published to Kafka with the PAN masked, keyed \
                by card id; an answer that counts a row as accepted comes only after Kafka \
                acknowledged it. Errors are `{\"error\", \"details\"}`.",
        },
        "security": [{"bearer": []}],
        "tags": [
            {"name": "ingest", "description": "Role `bank`."},
            {"name": "schemas", "description": "No authentication. The Avro writer schemas of \
                the topics' records, for consumers in any language."},
            {"name": "meta", "description": "No authentication."},
        ],
        "paths": paths,
        "components": {
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"}},
            "schemas": schemas(),
        },
    })
}

/// `GET /v1/schemas` and `GET /v1/schemas/{name}` ([`crate::routes::schemas`]).
fn schema_paths(paths: &mut Map<String, Value>) {
    let names: Vec<&str> = crate::routes::schemas::PUBLISHED
        .iter()
        .map(|p| p.name)
        .collect();
    let hex16 = json!({"type": "string", "pattern": "^[0-9a-f]{16}$"});
    paths.insert(
        SCHEMAS_PATH.into(),
        json!({"get": {"operationId": "listAvroSchemas", "tags": ["schemas"], "security": [],
            "summary": "The Avro writer schemas, where each is written and its fingerprint.",
            "description": "Every Kafka record is Avro single-object encoded: `C3 01`, the \
                writer schema's CRC-64-AVRO fingerprint (8 bytes, little-endian), then the Avro \
                binary body. Keep the schemas by fingerprint; decode each record with the one its \
                header names. Topic names are the defaults (`--topic`, `--dlq-topic` change them).",
            "responses": {"200": {"description": "The published schemas.",
                "content": {"application/json": {"schema": {"type": "object",
                    "required": ["encoding", "schemas"],
                    "properties": {"encoding": {"type": "string"},
                        "schemas": {"type": "array", "items": {"type": "object",
                            "required": ["name", "topic", "key", "url", "fingerprint", "header",
                                "readable_fingerprints"],
                            "properties": {
                                "name": {"enum": names},
                                "topic": {"type": ["string", "null"]},
                                "key": {"type": ["string", "null"],
                                    "description": "What the Kafka key holds."},
                                "description": {"type": "string"},
                                "url": {"type": "string"},
                                "fingerprint": {"type": "string", "pattern": "^[0-9a-f]{16}$",
                                    "description": "CRC-64-AVRO of the parsing canonical form: its 8 bytes little-endian, in hex, as the record header holds them."},
                                "header": {"type": "string", "pattern": "^c301[0-9a-f]{16}$",
                                    "description": "The 10 bytes each record written with this schema starts with."},
                                "readable_fingerprints": {"type": "array", "items": hex16,
                                    "description": "Every writer version the services read, this one first."}}}}}}}}}}}}),
    );
    paths.insert(
        SCHEMA_PATH.into(),
        json!({"get": {"operationId": "getAvroSchema", "tags": ["schemas"], "security": [],
            "summary": "One writer schema, self-contained (named types inlined), as Avro tools read it.",
            "parameters": [{"name": "name", "in": "path", "required": true,
                "schema": {"type": "string", "enum": names}}],
            "responses": {
                "200": {"description": "The Avro schema (JSON).",
                    "headers": {"X-Avro-Fingerprint": {"schema": hex16,
                        "description": "Its CRC-64-AVRO fingerprint, 8 bytes little-endian in hex."}},
                    "content": {"application/json": {"schema": {"type": "object",
                        "required": ["type", "name"]}}}},
                "404": error_response("No schema has this name."),
            }}}),
    );
}

/// A CSV file the ingestor reads to its end (REWARDS.md §1 framing): one of the two headers, then
/// rows. Rows are checked one by one (a bad row is counted as rejected in a 200); only a broken
/// file is a 422, so the schema keeps to files without quoting, where nothing can break.
fn csv_file() -> Value {
    let header = |columns: &[&str]| columns.join(",");
    json!({"type": "string",
        "pattern": format!("^\u{feff}?({}|{})(\\r?\\n[^\"\\r\\n]*)*$",
            header(&COLUMNS_BASE), header(&COLUMNS_WITH_TYPE))})
}

fn uuid() -> Value {
    json!({"type": "string", "format": "uuid", "pattern": UUID_PATTERN})
}

/// 1 to `max` characters once surrounding white space is removed (REWARDS.md §1).
fn text(max: usize) -> Value {
    json!({"type": "string", "minLength": 1, "maxLength": max, "pattern": not_blank_pattern()})
}

/// One field of a transaction, as REWARDS.md §1 states it (the server also removes surrounding
/// white space first; the patterns describe the trimmed text).
fn transaction_field(column: &str) -> Value {
    match column {
        "id" | "card_id" => uuid(),
        "transaction_id" => text(64),
        "merchant" => text(128),
        "mcc" => {
            json!({"description": "1 to 9999: a JSON integer, or its 1 to 4 digits as a string (`\"0742\"` is 742).",
            "oneOf": [
                {"type": "integer", "minimum": 1, "maximum": 9999},
                {"type": "string",
                    "pattern": "^(0{0,3}[1-9]|0{0,2}[1-9][0-9]|0?[1-9][0-9]{2}|[1-9][0-9]{3})$"},
            ]})
        }
        "currency" => json!({"type": "string", "enum": CurrencyCode::all_codes(),
            "description": "ISO 4217, upper case."}),
        "amount" => json!({"description": "0 < amount ≤ 1,000,000,000, at most 2 fractional \
            digits: a string, or a JSON integer.", "example": "12.30",
        "oneOf": [
            {"type": "string", "pattern": decimal_pattern(9, 2, false)},
            {"type": "integer", "minimum": 1, "maximum": 1_000_000_000},
        ]}),
        "transaction_date" => json!({"type": "string", "format": "date", "pattern": DATE_PATTERN,
            "description": "Not after today + 1 day (UTC, when received): a bound of the \
                clock, which a schema cannot state."}),
        "card_pan" => json!({"type": "string", "pattern": "^[ -]*([0-9][ -]*){13,19}$",
            "description": "13 to 19 digits once spaces and `-` are removed, passing the Luhn \
                check (which a schema cannot state). Published and stored masked only."}),
        "card_type" => json!({"type": "string", "pattern": "^[a-z0-9_]{1,64}$",
            "description": "The card program id."}),
        "type" => json!({"enum": ["", "purchase", "reversal", null],
            "description": "Empty, null or absent: purchase."}),
        "original_id" => json!({"description": "The purchase a reversal reverses: a UUID when \
                `type` is `reversal`, otherwise empty, null or absent.",
            "anyOf": [uuid(), {"enum": ["", null]}]}),
        _ => json!({"type": "string"}),
    }
}

fn schemas() -> Value {
    let mut tx_props = Map::new();
    for column in COLUMNS_WITH_TYPE {
        tx_props.insert(column.into(), transaction_field(column));
    }
    let required: Vec<&str> = COLUMNS_BASE.to_vec();
    let row_error = json!({"type": "object", "required": ["line", "id", "fields", "messages"],
        "properties": {
            "line": {"type": "integer", "description": "Physical line; the header is line 1."},
            "id": {"type": "string", "description": "The row's id as sent (PANs masked)."},
            "fields": {"type": "array", "items": {"type": "string"},
                "description": "Failing fields in column order; `row` for a wrong field count."},
            "messages": {"type": "array", "items": {"type": "string"}}}});
    let summary_props = json!({
        "batch_id": {"type": "string", "format": "uuid"},
        "rows": {"type": "integer", "description": "Data rows read."},
        "accepted": {"type": "integer", "description": "Rows durably in Kafka."},
        "rejected": {"type": "integer"},
        "errors": {"type": "array", "maxItems": 100, "items": schema_ref("RowError")}});
    let failure = json!({"type": "object", "required": ["reason", "message", "line"],
        "properties": {
            "reason": {"enum": ["invalid_file", "too_large", "too_many_rows", "kafka_unavailable",
                "read_failed", "interrupted"]},
            "message": {"type": "string"},
            "line": {"type": ["integer", "null"],
                "description": "Where the file broke, or the first line Kafka did not confirm."}}});
    let mut status_props = summary_props.clone();
    status_props["status"] = json!({"enum": ["running", "done", "failed"]});
    status_props["pending"] =
        json!({"type": "integer", "description": "Rows sent, not yet acknowledged."});
    status_props["bytes_read"] = json!({"type": "integer"});
    status_props["bytes_total"] = json!({"type": ["integer", "null"]});
    status_props["source"] = json!({"type": "object"});
    status_props["failure"] = schema_ref("Failure");
    let mut error_detail = summary_props.clone();
    error_detail["status"] = json!({"const": "failed"});
    error_detail["failure"] = schema_ref("Failure");
    json!({
        "Error": {"type": "object", "required": ["error", "details"],
            "properties": {"error": {"type": "string"}, "details": {"type": "array"}}},
        "Transaction": {"type": "object", "required": required,
            "additionalProperties": false, "properties": tx_props,
            // A reversal names its original; anything else names none.
            "if": {"required": ["type"], "properties": {"type": {"const": "reversal"}}},
            "then": {"required": ["original_id"], "properties": {"original_id": uuid()}},
            "else": {"properties": {"original_id": {"enum": ["", null]}}}},
        "RowError": row_error,
        "BatchSummary": {"type": "object",
            "required": ["batch_id", "rows", "accepted", "rejected", "errors"],
            "properties": summary_props},
        "BatchStatus": {"type": "object",
            "required": ["batch_id", "status", "rows", "accepted", "rejected", "errors"],
            "properties": status_props},
        "Failure": failure,
        "BatchError": {"type": "object", "required": ["error", "details"],
            "properties": {"error": {"type": "string"},
                "details": {"type": "array", "minItems": 1, "maxItems": 1,
                    "items": {"type": "object", "properties": error_detail}}}},
    })
}
