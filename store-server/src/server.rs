//! The server half: [`router`] serves any [`RewardStore`] on the routes of [`spend_store::remote::paths`], and
//! [`openapi_router`] their OpenAPI document.
//!
//! A handler decodes its body (a bad one is a 400 naming what is wrong, never a panic, never a
//! 500), makes one store call, and encodes the answer. Only the store's own
//! [`spend_store::reward_store::RewardStoreError::Corrupt`] is a 500; every store error answers as
//! [`spend_store::api_error`] maps it.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, FromRequest, Request, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use spend_runtime::ApiError;

use spend_store::api_error::{code, codes, cursor_error};
use spend_store::remote::wire::{self, WireError};
use spend_store::remote::{paths, CONTENT_TYPE, MAX_BODY_BYTES};
use spend_store::reward_store::{Cursor, RewardStore};

use crate::openapi;

type Store = Arc<dyn RewardStore>;

/// Every [`RewardStore`] method of `store` on its own route (see [`crate::remote`]), with a
/// body limit of [`MAX_BODY_BYTES`]. No auth and no fallback: the caller adds its auth layer
/// with `route_layer` and serves the router with the service's other routes.
pub fn router(store: Arc<dyn RewardStore>) -> Router {
    Router::new()
        .route(paths::APPLY, post(apply))
        .route(paths::PREFETCH, post(prefetch))
        .route(paths::GET, post(get_outcome))
        .route(paths::HISTORY, post(history))
        .route(paths::SUMMARY, post(summary))
        .route(paths::MISSIONS, post(missions))
        .route(paths::PING, get(ping))
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
        .with_state(store)
}

/// `GET` [`paths::OPENAPI`]: the document of [`router`]'s routes. Apart from [`router`] so that
/// the caller merges it after its auth layer: the document describes the API, not the rewards,
/// and needs no token.
pub fn openapi_router() -> Router {
    Router::new().route(paths::OPENAPI, get(|| async { Json(openapi::document()) }))
}

async fn apply(State(store): State<Store>, WireBody(body): WireBody) -> Result<Response, ApiError> {
    let batch = wire::decode_apply(&body).map_err(bad_body)?;
    let applied = store.apply(&batch).await?;
    Ok(octets(wire::encode_applied(applied)))
}

async fn prefetch(
    State(store): State<Store>,
    WireBody(body): WireBody,
) -> Result<Response, ApiError> {
    let txs = wire::decode_prefetch(&body).map_err(bad_body)?;
    let ledger = store.prefetch(&txs).await?;
    Ok(octets(wire::encode_ledger(&ledger)))
}

async fn get_outcome(
    State(store): State<Store>,
    WireBody(body): WireBody,
) -> Result<Response, ApiError> {
    let id = wire::decode_id(&body).map_err(bad_body)?;
    let found = store.get(id).await?;
    Ok(octets(wire::encode_found(found.as_ref())))
}

async fn history(
    State(store): State<Store>,
    WireBody(body): WireBody,
) -> Result<Response, ApiError> {
    let req = wire::decode_history(&body).map_err(bad_body)?;
    let after = match &req.cursor {
        Some(text) => Some(Cursor::decode(text, req.card).map_err(cursor_error)?),
        None => None,
    };
    let page = store.history(req.card, req.range, req.limit, after).await?;
    Ok(octets(wire::encode_page(&page)))
}

async fn summary(
    State(store): State<Store>,
    WireBody(body): WireBody,
) -> Result<Response, ApiError> {
    let (card, range) = wire::decode_summary_request(&body).map_err(bad_body)?;
    let summary = store.summary(card, range).await?;
    Ok(octets(wire::encode_summary(&summary)))
}

async fn missions(
    State(store): State<Store>,
    WireBody(body): WireBody,
) -> Result<Response, ApiError> {
    let cards = wire::decode_cards(&body).map_err(bad_body)?;
    let missions = store.missions(&cards).await?;
    Ok(octets(wire::encode_missions(&missions)))
}

async fn ping(State(store): State<Store>) -> Result<StatusCode, ApiError> {
    store.ping().await?;
    Ok(StatusCode::NO_CONTENT)
}

fn octets(body: Vec<u8>) -> Response {
    ([(header::CONTENT_TYPE, CONTENT_TYPE)], body).into_response()
}

/// A request body of the wire format: `application/octet-stream`, at most the route's body
/// limit. Every refusal is an [`ApiError`] with a code.
struct WireBody(Bytes);

impl<S: Send + Sync> FromRequest<S> for WireBody {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        check_content_type(req.headers())?;
        let bytes = Bytes::from_request(req, state).await.map_err(|rejection| {
            match rejection.status() {
                StatusCode::PAYLOAD_TOO_LARGE => ApiError::payload_too_large(format!(
                    "request body is over the limit of {MAX_BODY_BYTES} bytes"
                ))
                .with_details(code(codes::TOO_LARGE)),
                _ => ApiError::bad_request("the request body could not be read")
                    .with_cause(rejection.body_text())
                    .with_details(code(codes::BAD_BODY)),
            }
        })?;
        Ok(Self(bytes))
    }
}

fn check_content_type(headers: &HeaderMap) -> Result<(), ApiError> {
    let essence = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .map(|v| v.trim().to_ascii_lowercase());
    if essence.as_deref() == Some(CONTENT_TYPE) {
        return Ok(());
    }
    Err(
        ApiError::unsupported_media_type(format!("expected content type {CONTENT_TYPE}"))
            .with_details(code(codes::BAD_BODY)),
    )
}

fn bad_body(e: WireError) -> ApiError {
    ApiError::bad_request(format!("bad request body: {e}")).with_details(code(codes::BAD_BODY))
}
