//! `/v1/me/notifications` in the OpenAPI document: the calling cardholder's notification
//! settings, with the schema both methods share.

use serde_json::{json, Map, Value};
use spend_runtime::openapi::{error_response, schema_ref};

use crate::notifications::{Digest, NotificationSettings};
use crate::routes::NOTIFICATIONS_PATH;

/// Adds the path.
pub(super) fn add_path(paths: &mut Map<String, Value>) {
    let settings = json!({"description": "The caller's settings.",
        "content": {"application/json": {"schema": schema_ref("NotificationSettings")}}});
    let mut got = json!({"200": settings.clone()});
    let mut put = json!({"200": settings});
    for responses in [&mut got, &mut put] {
        responses["401"] = error_response("No or bad token.");
        responses["403"] = error_response(
            "The token's role is not customer, or it names no customer (no `sub` claim and no \
             cards).",
        );
        responses["503"] = error_response("The configuration store is unavailable.");
    }
    put["400"] = error_response("Malformed JSON (the message names line and column).");
    put["413"] = error_response("The body is larger than the limit.");
    put["415"] = error_response("The body is not `application/json`.");
    put["422"] = error_response("Invalid content; `details` name each failing field.");
    paths.insert(
        NOTIFICATIONS_PATH.into(),
        json!({
            "get": {"operationId": "getMyNotifications",
                "summary": "The calling cardholder's notification settings; the defaults \
                    (`email` false, `digest` weekly) until they are first set. The customer is \
                    the token's `sub`, or, for a token without one, the set of cards it lists.",
                "tags": ["cardholder"], "responses": got},
            "put": {"operationId": "replaceMyNotifications",
                "summary": "Replace the calling cardholder's notification settings (both fields \
                    required); answers them as stored.",
                "tags": ["cardholder"],
                "requestBody": {"required": true,
                    "content": {"application/json": {"schema": schema_ref("NotificationSettings")}}},
                "responses": put},
        }),
    );
}

/// The `NotificationSettings` schema.
pub(super) fn schema() -> Value {
    let digests: Vec<&str> = Digest::ALL.iter().map(|d| d.as_str()).collect();
    let default = NotificationSettings::DEFAULT.to_json();
    json!({"type": "object", "additionalProperties": false, "required": ["email", "digest"],
        "properties": {
            "email": {"type": "boolean",
                "description": "Email at all: false sends none, whatever `digest` says."},
            "digest": {"type": "string", "enum": digests,
                "description": "How often a digest of new rewards is emailed while `email` is \
                    true; `off` for none."}},
        "example": default})
}
