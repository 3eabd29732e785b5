//! The route table and the handlers: each one authorises, parses, makes one store call within the
//! deadline, and writes the answer.
//!
//! Order of checks on a card route: token and role (401/403, by the route layer), then the path
//! (400), then whether the token may read that card (403), then the query (400), then the store.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use axum::response::Response;
use axum::routing::get;
use axum::{Json, Router};
use spend_domain::CardId;
use spend_runtime::{require_any_role, require_role, ApiError, Principal, Role};
use spend_store::api_error::within;
use spend_store::reward_store::{RewardStore, RewardStoreError};

use crate::metrics::{self, Route};
use crate::query::{Params, PathUuid};
use crate::{json, openapi, InformerConfig, InformerDeps};

/// Where the OpenAPI document of these routes is served.
pub(crate) const OPENAPI_PATH: &str = "/v1/openapi/informer.json";
pub(crate) const HISTORY_PATH: &str = "/v1/cards/{card_id}/rewards";
pub(crate) const SUMMARY_PATH: &str = "/v1/cards/{card_id}/summary";
pub(crate) const RECORD_PATH: &str = "/v1/transactions/{id}";
pub(crate) const MISSIONS_PATH: &str = "/v1/cards/{card_id}/missions";

#[derive(Clone)]
struct AppState {
    store: Arc<dyn RewardStore>,
    store_timeout: Duration,
}

impl AppState {
    /// One store call within the deadline; past it the store counts as unavailable.
    async fn call<T>(
        &self,
        route: Route,
        fut: impl Future<Output = Result<T, RewardStoreError>>,
    ) -> Result<T, ApiError> {
        let result = within(self.store_timeout, fut).await;
        metrics::served(route);
        result.map_err(|e| {
            if e.is_retryable() {
                metrics::store_unavailable();
            }
            ApiError::from(e)
        })
    }
}

/// An admin reads every card; a customer only the cards its token lists.
fn may_read(principal: &Principal, card: CardId) -> Result<(), ApiError> {
    let allowed = match principal.role {
        Role::Admin => true,
        Role::Customer => principal.cards.contains(&card.0),
        Role::Bank | Role::Service => false,
    };
    if allowed {
        Ok(())
    } else {
        Err(ApiError::forbidden(format!(
            "this token may not read card {card}"
        )))
    }
}

pub(crate) fn router(config: &InformerConfig, deps: InformerDeps) -> Router {
    let state = AppState {
        store: deps.store,
        store_timeout: config.store_timeout,
    };
    let cards = Router::new()
        .route(HISTORY_PATH, get(history))
        .route(SUMMARY_PATH, get(summary))
        .route(MISSIONS_PATH, get(missions))
        .route_layer(require_any_role(
            deps.auth.clone(),
            &[Role::Admin, Role::Customer],
        ));
    let records = Router::new()
        .route(RECORD_PATH, get(record))
        .route_layer(require_role(deps.auth, Role::Admin));
    cards
        .merge(records)
        .with_state(state)
        // The document describes the API, not the rewards: it needs no role.
        .route(OPENAPI_PATH, get(|| async { Json(openapi::document()) }))
}

async fn history(
    axum::extract::State(s): axum::extract::State<AppState>,
    principal: Principal,
    card: PathUuid,
    Params(params): Params,
) -> Result<Response, ApiError> {
    let card = card.card();
    may_read(&principal, card)?;
    let range = params.range()?;
    let limit = params.limit()?;
    let cursor = params.cursor(card)?;
    let page = s
        .call(Route::History, s.store.history(card, range, limit, cursor))
        .await?;
    metrics::items_served(page.items.len());
    Ok(json::page(&page))
}

async fn summary(
    axum::extract::State(s): axum::extract::State<AppState>,
    principal: Principal,
    card: PathUuid,
    Params(params): Params,
) -> Result<Response, ApiError> {
    let card = card.card();
    may_read(&principal, card)?;
    let range = params.range()?;
    let summary = s.call(Route::Summary, s.store.summary(card, range)).await?;
    Ok(json::summary(card, &summary))
}

async fn missions(
    axum::extract::State(s): axum::extract::State<AppState>,
    principal: Principal,
    card: PathUuid,
) -> Result<Response, ApiError> {
    let card = card.card();
    may_read(&principal, card)?;
    let states = s.call(Route::Missions, s.store.missions(&[card])).await?;
    Ok(crate::missions::card_missions(
        &states,
        chrono::Utc::now().date_naive(),
    ))
}

async fn record(
    axum::extract::State(s): axum::extract::State<AppState>,
    id: PathUuid,
) -> Result<Response, ApiError> {
    let id = id.record();
    match s.call(Route::Record, s.store.get(id)).await? {
        Some(outcome) => Ok(json::record(&outcome)),
        None => Err(ApiError::not_found(format!(
            "no outcome is stored for transaction {id}"
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use uuid::Uuid;

    fn principal(role: Role, cards: &[u128]) -> Principal {
        Principal {
            subject: "t".into(),
            role,
            cards: cards.iter().map(|&n| Uuid::from_u128(n)).collect(),
        }
    }

    #[test]
    fn card_access() {
        let card = CardId(Uuid::from_u128(7));
        assert!(may_read(&principal(Role::Admin, &[]), card).is_ok());
        assert!(may_read(&principal(Role::Customer, &[3, 7]), card).is_ok());
        let e = may_read(&principal(Role::Customer, &[3]), card).unwrap_err();
        assert_eq!(e.status.as_u16(), 403);
        assert_eq!(
            e.error,
            "this token may not read card 00000000-0000-0000-0000-000000000007"
        );
        assert!(may_read(&principal(Role::Bank, &[7]), card).is_err());
    }
}
