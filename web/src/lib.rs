//! `spend-web`: the web dashboard — campaigns, exclusions and missions, dry runs, uploads and
//! batches, card lookups with mission progress, and the cardholder's own cards and notification
//! settings — as server-rendered pages under `/` and `/ui/...`.
//!
//! Every page gets its data from the public HTTP API at a configured base URL, over HTTP, with the
//! signed-in user's token: the API decides what the user may see and do, and the dashboard has no
//! other way into the stores. The only computation of its own is the dry run, which runs the pure
//! reward engine of `spend-domain` over the configuration read from `GET /v1/config`.
//!
//! It must never open a store, verify or mint tokens, or render a full PAN.

mod api;
mod condition_form;
mod layout;
mod multipart;
mod pages;
mod recent;
mod session;

use std::sync::Arc;

use axum::http::header;
use axum::response::IntoResponse;
use axum::routing::{get, post};
use axum::Router;

pub use session::SignInLinks;

/// How the dashboard is served.
#[derive(Clone, Debug)]
pub struct WebConfig {
    /// The public API's base URL, e.g. `http://127.0.0.1:8080` (`spend dev` points it at itself).
    pub api_url: String,
    /// One-time sign-in links (`spend dev` issues one for its admin token); empty elsewhere.
    pub sign_in_links: SignInLinks,
    /// Mark the session cookie `Secure` (when the dashboard is reached over HTTPS).
    pub secure_cookie: bool,
    /// In distributed mode, where each service has its own address: the ingestor's base URL
    /// (`/v1/batches...`), the informer's (`/v1/cards/...`) and campaignex's (configuration,
    /// and the cardholder's settings under `/v1/me/`);
    /// `None` sends those paths to `api_url` too.
    pub ingestor_url: Option<String>,
    pub informer_url: Option<String>,
    pub campaignex_url: Option<String>,
}

impl WebConfig {
    pub fn new(api_url: impl Into<String>) -> Self {
        WebConfig {
            api_url: api_url.into(),
            sign_in_links: SignInLinks::new(),
            secure_cookie: false,
            ingestor_url: None,
            informer_url: None,
            campaignex_url: None,
        }
    }
}

#[derive(Clone)]
pub(crate) struct AppState {
    pub(crate) api: api::Api,
    pub(crate) links: SignInLinks,
    pub(crate) secure_cookie: bool,
    pub(crate) recent: Arc<recent::Recent>,
}

/// The dashboard's routes: `/` and `/ui/...`, no fallback (so it merges with the API's router).
pub fn router(config: WebConfig) -> Router {
    let mut by_prefix = Vec::new();
    if let Some(url) = config.ingestor_url {
        by_prefix.push(("/v1/batches", url));
    }
    if let Some(url) = config.informer_url {
        by_prefix.push(("/v1/cards/", url));
    }
    if let Some(url) = config.campaignex_url {
        for prefix in [
            "/v1/programs",
            "/v1/campaigns",
            "/v1/exclusions",
            "/v1/missions",
            "/v1/config",
            "/v1/me/",
        ] {
            by_prefix.push((prefix, url.clone()));
        }
    }
    let state = AppState {
        api: api::Api::new(&config.api_url, by_prefix),
        links: config.sign_in_links,
        secure_cookie: config.secure_cookie,
        recent: Arc::new(recent::Recent::default()),
    };
    use pages::campaigns::{CAMPAIGNS, EXCLUSIONS, MISSIONS};
    use pages::{campaigns, cards, dryrun, home, notifications, signin, uploads};
    Router::new()
        .route("/", get(home::home))
        .route("/ui/signin", get(signin::show).post(signin::submit))
        .route("/ui/signin/{code}", get(signin::one_time))
        .route("/ui/signout", post(signin::signout))
        .route("/ui/campaigns", get(campaigns::list))
        .route(
            "/ui/campaigns/new",
            get(campaigns::new_form::<CAMPAIGNS>).post(campaigns::create::<CAMPAIGNS>),
        )
        .route(
            "/ui/campaigns/{id}",
            get(campaigns::edit_form::<CAMPAIGNS>).post(campaigns::update::<CAMPAIGNS>),
        )
        .route(
            "/ui/campaigns/{id}/delete",
            post(campaigns::delete::<CAMPAIGNS>),
        )
        .route(
            "/ui/exclusions/new",
            get(campaigns::new_form::<EXCLUSIONS>).post(campaigns::create::<EXCLUSIONS>),
        )
        .route(
            "/ui/exclusions/{id}",
            get(campaigns::edit_form::<EXCLUSIONS>).post(campaigns::update::<EXCLUSIONS>),
        )
        .route(
            "/ui/exclusions/{id}/delete",
            post(campaigns::delete::<EXCLUSIONS>),
        )
        .route(
            "/ui/missions/new",
            get(campaigns::new_form::<MISSIONS>).post(campaigns::create::<MISSIONS>),
        )
        .route(
            "/ui/missions/{id}",
            get(campaigns::edit_form::<MISSIONS>).post(campaigns::update::<MISSIONS>),
        )
        .route(
            "/ui/missions/{id}/delete",
            post(campaigns::delete::<MISSIONS>),
        )
        .route("/ui/dry-run", get(dryrun::show).post(dryrun::run))
        .route("/ui/uploads", get(uploads::show).post(uploads::upload_form))
        .route("/ui/uploads/csv", post(uploads::upload_raw))
        .route("/ui/uploads/s3", post(uploads::upload_s3))
        .route("/ui/batches/{id}", get(uploads::batch))
        .route("/ui/cards", get(cards::lookup))
        .route("/ui/cards/{id}", get(cards::card))
        .route(
            "/ui/notifications",
            get(notifications::show).post(notifications::save),
        )
        .route("/ui/assets/app.css", get(css))
        .route("/ui/assets/upload.js", get(js))
        .route("/ui/{*rest}", get(pages::not_found))
        .layer(axum::middleware::from_fn(layout::with_session_header))
        .with_state(state)
}

async fn css() -> impl IntoResponse {
    (
        [
            (header::CONTENT_TYPE, "text/css; charset=utf-8"),
            (header::CACHE_CONTROL, "max-age=300"),
        ],
        layout::CSS,
    )
}

async fn js() -> impl IntoResponse {
    (
        [
            (header::CONTENT_TYPE, "text/javascript; charset=utf-8"),
            (header::CACHE_CONTROL, "max-age=300"),
        ],
        layout::UPLOAD_JS,
    )
}

#[cfg(test)]
mod tests {
    use axum::body::Body;
    use axum::http::{Request, StatusCode};
    use tower::ServiceExt;

    use super::*;

    async fn get(path: &str, cookie: Option<&str>) -> (StatusCode, String, String) {
        let app = router(WebConfig::new("http://127.0.0.1:9"));
        let mut req = Request::get(path);
        if let Some(c) = cookie {
            req = req.header(header::COOKIE, c);
        }
        let resp = app.oneshot(req.body(Body::empty()).unwrap()).await.unwrap();
        let status = resp.status();
        let location = resp
            .headers()
            .get(header::LOCATION)
            .map(|v| v.to_str().unwrap().to_owned())
            .unwrap_or_default();
        let body = axum::body::to_bytes(resp.into_body(), 1 << 20)
            .await
            .unwrap();
        (status, location, String::from_utf8(body.to_vec()).unwrap())
    }

    #[tokio::test]
    async fn without_a_session_pages_lead_to_sign_in() {
        let (status, location, _) = get("/", None).await;
        assert_eq!(
            (status, location.as_str()),
            (StatusCode::SEE_OTHER, "/ui/signin")
        );
        let (status, _, body) = get("/ui/signin", None).await;
        assert_eq!(status, StatusCode::OK);
        assert!(body.contains("Your API token"));
    }

    #[tokio::test]
    async fn unknown_pages_and_used_links_are_explained() {
        let (status, _, body) = get("/ui/nothing/here", None).await;
        assert_eq!(status, StatusCode::NOT_FOUND);
        assert!(body.contains("There is no page at this address."));
        let (status, _, body) = get("/ui/signin/not-a-code", None).await;
        assert_eq!(status, StatusCode::GONE);
        assert!(body.contains("already used or is unknown"));
    }

    #[tokio::test]
    async fn an_unreachable_api_is_a_page_not_a_blank() {
        // A well-formed admin token (the API, unreachable here, would judge it).
        let token = "eyJhbGciOiJIUzI1NiJ9.eyJyb2xlIjoiYWRtaW4iLCJzdWIiOiJ0In0.c2ln";
        let cookie = format!("spend_session={token}");
        let (status, _, body) = get("/ui/campaigns", Some(&cookie)).await;
        assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
        assert!(body.contains("The API is not reachable"), "{body}");
        // The error page keeps the signed-in user's header (navigation, sign-out).
        assert!(
            body.contains("Sign out") && body.contains("/ui/campaigns"),
            "{body}"
        );
        let (status, _, _) = get("/ui/assets/app.css", None).await;
        assert_eq!(status, StatusCode::OK);
    }
}
