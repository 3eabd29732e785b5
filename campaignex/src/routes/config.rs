//! `GET /v1/config` and `PUT /v1/config`: the whole configuration at once.

use axum::extract::State;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::{json, Value};
use spend_domain::config::Config;
use spend_runtime::{ApiError, ApiJson};
use spend_store::config_store::Resource;
use uuid::Uuid;

use super::{store_error, AppState};
use crate::kinds;
use crate::metrics;

/// The document's list for each resource.
fn list_name(resource: Resource) -> &'static str {
    match resource {
        Resource::Program => "programs",
        Resource::FxRate => "fx_rates",
        Resource::Campaign => "campaigns",
        Resource::Exclusion => "exclusions",
        Resource::Mission => "missions",
    }
}

/// `{"revision", "programs", "fx_rates", "campaigns", "exclusions", "missions"}`, each list ordered by key,
/// all read at one revision.
pub(super) async fn get_config(State(state): State<AppState>) -> Result<Response, ApiError> {
    let mut snapshot = state
        .call(state.store.snapshot())
        .await
        .map_err(store_error)?;
    snapshot.objects.sort_by(|a, b| a.id.cmp(&b.id));
    let mut doc = json!({ "revision": snapshot.revision });
    for resource in Resource::ALL {
        let items: Vec<Value> = snapshot
            .objects
            .iter()
            .filter(|o| o.resource == resource)
            .map(|o| o.value.clone())
            .collect();
        doc[list_name(resource)] = Value::Array(items);
    }
    Ok(Json(doc).into_response())
}

/// Replaces the whole configuration with the document, atomically: `200 {"revision"}`. The
/// document is validated as a whole first (`422 invalid configuration` names every problem by
/// its path, e.g. `campaigns[2].rate`); ids are assigned where absent.
pub(super) async fn put_config(
    State(state): State<AppState>,
    ApiJson(body): ApiJson<Value>,
) -> Result<Response, ApiError> {
    let config = Config::from_json(&body, &mut Uuid::new_v4)
        .and_then(|c| c.validate().map(|()| c))
        .map_err(|e| ApiError::unprocessable("invalid configuration", kinds::field_errors(&e.0)))?;
    let objects = spend_store::config_store::objects_of(&config);
    let revision = state
        .call(state.store.replace_all(objects))
        .await
        .map_err(store_error)?;
    metrics::write_succeeded(None, "replace_all");
    Ok(Json(json!({ "revision": revision })).into_response())
}
