//! The OpenAPI 3.1 document of the ingestor's routes, served at `GET /v1/openapi/ingestor.json`.
//!
//! Written as data, like campaignex's: the request bodies are validated by `spend-domain`'s
//! hand-written parsers, not derived types. A test checks that every route is documented.

use serde_json::{json, Map, Value};
use spend_domain::csv::COLUMNS_WITH_TYPE;
use spend_runtime::openapi::{add_meta_paths, error_response, schema_ref};

use crate::routes::OPENAPI_PATH;

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
            "requestBody": {"required": true, "content": {"text/csv": {"schema": {"type": "string"}}}},
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
                "properties": {"bucket": {"type": "string"}, "key": {"type": "string"}}}}}},
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
            {"name": "meta", "description": "No authentication."},
        ],
        "paths": paths,
        "components": {
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"}},
            "schemas": schemas(),
        },
    })
}

fn schemas() -> Value {
    let mut tx_props = Map::new();
    for column in COLUMNS_WITH_TYPE {
        let schema = match column {
            "mcc" => json!({"type": ["integer", "string"]}),
            "amount" => json!({"type": ["string", "number"], "example": "12.30"}),
            "type" | "original_id" => json!({"type": ["string", "null"]}),
            _ => json!({"type": "string"}),
        };
        tx_props.insert(column.into(), schema);
    }
    let required: Vec<&str> = COLUMNS_WITH_TYPE[..10].to_vec();
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
            "additionalProperties": false, "properties": tx_props},
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
