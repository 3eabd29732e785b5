//! The pages, one module each.

pub(crate) mod campaigns;
pub(crate) mod cards;
pub(crate) mod config_form;
pub(crate) mod dryrun;
pub(crate) mod home;
pub(crate) mod mission_progress;
pub(crate) mod missions;
pub(crate) mod notifications;
pub(crate) mod signin;
pub(crate) mod uploads;

use axum::http::StatusCode;
use axum::response::Response;

use crate::layout::error_page;

/// Any other `/ui/...` path.
pub(crate) async fn not_found() -> Response {
    error_page(
        StatusCode::NOT_FOUND,
        "Not found",
        "There is no page at this address.",
    )
}
