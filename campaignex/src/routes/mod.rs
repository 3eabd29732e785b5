//! The route table, and what every handler shares: the store with a deadline, and how a store
//! error becomes an answer.

mod config;
mod notifications;
mod objects;
#[cfg(test)]
mod tests;

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::{DefaultBodyLimit, FromRequestParts, Path, State};
use axum::http::request::Parts;
use axum::http::HeaderMap;
use axum::routing::get;
use axum::{Json, Router};
use serde_json::Value;
use spend_runtime::{require_role, ApiError, ApiJson, Role};
use spend_store::api_error::within;
use spend_store::config_store::{ConfigStore, Resource, StoreError};

use crate::{metrics, openapi, CampaignexConfig, CampaignexDeps};

/// Where the OpenAPI document of these routes is served.
pub(crate) const OPENAPI_PATH: &str = "/v1/openapi/campaignex.json";

/// The calling cardholder's notification settings.
pub(crate) const NOTIFICATIONS_PATH: &str = "/v1/me/notifications";

#[derive(Clone)]
pub(crate) struct AppState {
    store: Arc<dyn ConfigStore>,
    store_timeout: Duration,
}

impl AppState {
    /// One store call within the deadline; past it the store counts as unavailable.
    async fn call<T>(
        &self,
        fut: impl Future<Output = Result<T, StoreError>>,
    ) -> Result<T, StoreError> {
        within(self.store_timeout, fut).await
    }
}

/// A store error no handler has a more specific answer for: the one mapping
/// ([`spend_store::api_error`]), counted when the store was unavailable.
fn store_error(e: StoreError) -> ApiError {
    if e.is_retryable() {
        metrics::store_unavailable();
    }
    ApiError::from(e)
}

pub(crate) fn router(config: &CampaignexConfig, deps: CampaignexDeps) -> Router {
    let state = AppState {
        store: deps.store,
        store_timeout: config.store_timeout,
    };
    let mut admin = Router::new();
    for resource in Resource::ALL {
        admin = admin.merge(object_routes(resource));
    }
    let admin = admin
        .route(
            "/v1/config",
            get(config::get_config).put(config::put_config),
        )
        .route_layer(require_role(deps.auth.clone(), Role::Admin));
    // "Me" is the cardholder the token names; an admin has no settings of its own here.
    let customer = Router::new()
        .route(
            NOTIFICATIONS_PATH,
            get(notifications::get).put(notifications::put),
        )
        .route_layer(require_role(deps.auth, Role::Customer));
    admin
        .merge(customer)
        .layer(DefaultBodyLimit::max(config.body_limit_bytes))
        .with_state(state)
        // The document describes the API, not the configuration: it needs no role.
        .route(OPENAPI_PATH, get(|| async { Json(openapi::document()) }))
}

/// The `{id}` segment, with axum's rejection (bad percent-encoding) in the API's error shape.
struct PathId(String);

impl<S: Send + Sync> FromRequestParts<S> for PathId {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        Path::<String>::from_request_parts(parts, state)
            .await
            .map(|Path(id)| PathId(id))
            .map_err(|e| {
                ApiError::bad_request(format!("invalid path: {}", e.body_text().to_lowercase()))
            })
    }
}

fn object_routes(resource: Resource) -> Router<AppState> {
    let collection = format!("/v1/{}", resource.as_str());
    let item = format!("{collection}/{{id}}");
    Router::new()
        .route(
            &collection,
            get(move |State(s): State<AppState>| objects::list(s, resource)).post(
                move |State(s): State<AppState>, ApiJson(body): ApiJson<Value>| {
                    objects::create(s, resource, body)
                },
            ),
        )
        .route(
            &item,
            get(move |State(s): State<AppState>, PathId(id): PathId| {
                objects::get_one(s, resource, id)
            })
            .put(
                move |State(s): State<AppState>,
                      PathId(id): PathId,
                      headers: HeaderMap,
                      ApiJson(body): ApiJson<Value>| {
                    objects::replace(s, resource, id, headers, body)
                },
            )
            .delete(
                move |State(s): State<AppState>, PathId(id): PathId, headers: HeaderMap| {
                    objects::delete(s, resource, id, headers)
                },
            ),
        )
}
