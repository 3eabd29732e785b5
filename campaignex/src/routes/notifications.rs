//! `GET|PUT /v1/me/notifications`: the calling cardholder's notification settings (role
//! `customer`). Kept in the configuration store beside the configuration, never in it.

use axum::extract::State;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::Value;
use spend_runtime::{ApiError, ApiJson, Principal};
use spend_store::config_store::CustomerSetting;

use super::{store_error, AppState};
use crate::metrics;
use crate::notifications::{customer_of, NotificationSettings};

const KIND: CustomerSetting = CustomerSetting::Notifications;

/// The customer the token names, or 403.
fn customer(principal: &Principal) -> Result<String, ApiError> {
    customer_of(principal).ok_or_else(|| {
        ApiError::forbidden("this token names no customer: it has no sub claim and lists no cards")
    })
}

/// The stored settings, or the defaults when the customer never chose.
pub(super) async fn get(
    State(state): State<AppState>,
    principal: Principal,
) -> Result<Response, ApiError> {
    let customer = customer(&principal)?;
    let stored = state
        .call(state.store.customer_setting(KIND, &customer))
        .await
        .map_err(store_error)?;
    let settings = match stored {
        None => NotificationSettings::DEFAULT,
        // Only this route writes them, after the same parse: anything else is not the client's.
        Some(v) => NotificationSettings::from_json(&v).map_err(|details| {
            ApiError::internal(format!(
                "stored notification settings unreadable: {details:?}"
            ))
        })?,
    };
    Ok(Json(settings.to_json()).into_response())
}

/// Replaces the settings with the body (both fields required); answers them as stored.
pub(super) async fn put(
    State(state): State<AppState>,
    principal: Principal,
    ApiJson(body): ApiJson<Value>,
) -> Result<Response, ApiError> {
    let customer = customer(&principal)?;
    let settings = NotificationSettings::from_json(&body)
        .map_err(|details| ApiError::unprocessable("invalid notification settings", details))?;
    state
        .call(
            state
                .store
                .put_customer_setting(KIND, &customer, settings.to_json()),
        )
        .await
        .map_err(store_error)?;
    metrics::customer_setting_written(KIND);
    Ok(Json(settings.to_json()).into_response())
}
