//! Who is calling, and whether their role may use a route: the one place auth lives.
//!
//! A service wraps each group of routes in [`require_role`] with the roles API.md names for them.
//! The [`Authenticator`] decides who the caller is; [`NoAuth`] is the only one for now (tests and
//! local development), a JWT authenticator comes later as another implementation of the same trait.

use std::convert::Infallible;
use std::fmt;
use std::sync::Arc;
use std::task::{Context, Poll};

use axum::extract::{FromRequestParts, Request};
use axum::http::request::Parts;
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use futures::future::BoxFuture;
use tower::{Layer, Service};
use uuid::Uuid;

use crate::error::ApiError;

/// The roles of API.md (claim `role`), and `service` for calls between the product's own
/// processes (a rewarder or an informer reaching `spend store`).
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub enum Role {
    Admin,
    Bank,
    Customer,
    /// Service to service: the only role the remote reward store admits, and admitted nowhere
    /// else (it reads no card and uploads nothing).
    Service,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Admin => "admin",
            Role::Bank => "bank",
            Role::Customer => "customer",
            Role::Service => "service",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "admin" => Some(Role::Admin),
            "bank" => Some(Role::Bank),
            "customer" => Some(Role::Customer),
            "service" => Some(Role::Service),
            _ => None,
        }
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// An authenticated caller. [`require_role`] puts it in the request's extensions, so a handler can
/// take it as an extractor (e.g. to limit a customer to the cards of its token).
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct Principal {
    /// The token's subject, for logs.
    pub subject: String,
    pub role: Role,
    /// For a customer: the card ids the token lists (claim `cards`).
    pub cards: Vec<Uuid>,
}

/// Decides who sent a request, from its headers.
pub trait Authenticator: Send + Sync + 'static {
    /// `Err` is a 401 (no or bad credentials) in the API's error shape.
    fn authenticate(&self, headers: &HeaderMap) -> Result<Principal, ApiError>;
}

/// Accepts every request as the same principal, by default an admin. For tests and local development
/// only: it performs no authentication at all.
#[derive(Clone, Debug)]
pub struct NoAuth {
    principal: Principal,
}

impl NoAuth {
    /// Every caller is an admin.
    pub fn admin() -> Self {
        Self::as_role(Role::Admin)
    }

    /// Every caller has `role` (a customer with no cards).
    pub fn as_role(role: Role) -> Self {
        Self {
            principal: Principal {
                subject: "anonymous".into(),
                role,
                cards: Vec::new(),
            },
        }
    }
}

impl Default for NoAuth {
    fn default() -> Self {
        Self::admin()
    }
}

impl Authenticator for NoAuth {
    fn authenticate(&self, _headers: &HeaderMap) -> Result<Principal, ApiError> {
        Ok(self.principal.clone())
    }
}

/// A route layer admitting only callers whose role is one of `roles`: 401 when the authenticator
/// refuses the request, 403 when the role does not fit. Roles match exactly (an admin is not
/// implicitly a bank), as API.md lists the roles of every route.
///
/// Apply it with `Router::route_layer`, so an unknown path still answers 404 rather than 401.
pub fn require_role(auth: Arc<dyn Authenticator>, role: Role) -> RequireRoleLayer {
    require_any_role(auth, &[role])
}

/// [`require_role`] for routes open to several roles.
pub fn require_any_role(auth: Arc<dyn Authenticator>, roles: &[Role]) -> RequireRoleLayer {
    RequireRoleLayer {
        auth,
        roles: roles.into(),
    }
}

/// See [`require_role`].
#[derive(Clone)]
pub struct RequireRoleLayer {
    auth: Arc<dyn Authenticator>,
    roles: Arc<[Role]>,
}

impl<S> Layer<S> for RequireRoleLayer {
    type Service = RequireRole<S>;

    fn layer(&self, inner: S) -> Self::Service {
        RequireRole {
            inner,
            auth: self.auth.clone(),
            roles: self.roles.clone(),
        }
    }
}

/// The service [`RequireRoleLayer`] builds.
#[derive(Clone)]
pub struct RequireRole<S> {
    inner: S,
    auth: Arc<dyn Authenticator>,
    roles: Arc<[Role]>,
}

impl<S> RequireRole<S> {
    fn admit(&self, headers: &HeaderMap) -> Result<Principal, ApiError> {
        let principal = self.auth.authenticate(headers)?;
        if self.roles.contains(&principal.role) {
            return Ok(principal);
        }
        let wanted: Vec<&str> = self.roles.iter().map(|r| r.as_str()).collect();
        Err(ApiError::forbidden(format!(
            "this route needs role {}; the token has role {}",
            wanted.join(" or "),
            principal.role
        )))
    }
}

impl<S> Service<Request> for RequireRole<S>
where
    S: Service<Request, Response = Response, Error = Infallible> + Clone + Send + 'static,
    S::Future: Send + 'static,
{
    type Response = Response;
    type Error = Infallible;
    type Future = BoxFuture<'static, Result<Response, Infallible>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut req: Request) -> Self::Future {
        match self.admit(req.headers()) {
            Ok(principal) => {
                req.extensions_mut().insert(principal);
                // The clone is the one polled ready; keep it, leave a fresh clone in `self`.
                let clone = self.inner.clone();
                let mut inner = std::mem::replace(&mut self.inner, clone);
                Box::pin(async move { inner.call(req).await })
            }
            Err(e) => Box::pin(async move { Ok(e.into_response()) }),
        }
    }
}

impl<S: Send + Sync> FromRequestParts<S> for Principal {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        parts
            .extensions
            .get::<Principal>()
            .cloned()
            .ok_or_else(|| ApiError::internal("route has no require_role layer"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::body::Body;
    use axum::http::StatusCode;
    use axum::routing::get;
    use axum::Router;
    use tower::ServiceExt;

    struct Bearer;

    impl Authenticator for Bearer {
        fn authenticate(&self, headers: &HeaderMap) -> Result<Principal, ApiError> {
            let role = headers
                .get("authorization")
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.strip_prefix("Bearer "))
                .and_then(Role::parse)
                .ok_or_else(|| ApiError::unauthorized("missing or invalid bearer token"))?;
            Ok(Principal {
                subject: "t".into(),
                role,
                cards: vec![],
            })
        }
    }

    fn app(auth: Arc<dyn Authenticator>) -> Router {
        Router::new()
            .route("/x", get(|p: Principal| async move { p.role.to_string() }))
            .route_layer(require_role(auth, Role::Admin))
    }

    async fn call(router: Router, token: Option<&str>) -> (StatusCode, String) {
        let mut req = Request::get("/x");
        if let Some(t) = token {
            req = req.header("authorization", format!("Bearer {t}"));
        }
        let res = router
            .oneshot(req.body(Body::empty()).unwrap())
            .await
            .unwrap();
        let status = res.status();
        let body = axum::body::to_bytes(res.into_body(), 1 << 16)
            .await
            .unwrap();
        (status, String::from_utf8(body.to_vec()).unwrap())
    }

    #[tokio::test]
    async fn roles_are_enforced() {
        let auth: Arc<dyn Authenticator> = Arc::new(Bearer);
        assert_eq!(
            call(app(auth.clone()), Some("admin")).await,
            (StatusCode::OK, "admin".into())
        );
        let (status, body) = call(app(auth.clone()), Some("bank")).await;
        assert_eq!(status, StatusCode::FORBIDDEN);
        assert!(body.contains("needs role admin"), "{body}");
        let (status, body) = call(app(auth), None).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED);
        assert!(body.contains("\"error\""), "{body}");
    }

    #[test]
    fn roles_parse_from_their_claim_values() {
        for role in [Role::Admin, Role::Bank, Role::Customer, Role::Service] {
            assert_eq!(Role::parse(role.as_str()), Some(role));
        }
        assert_eq!(Role::Service.as_str(), "service");
        assert_eq!(Role::parse("Service"), None);
        assert_eq!(Role::parse("services"), None);
    }

    #[tokio::test]
    async fn a_service_route_admits_only_a_service() {
        let service = Router::new()
            .route("/x", get(|p: Principal| async move { p.role.to_string() }))
            .route_layer(require_role(Arc::new(Bearer), Role::Service));
        assert_eq!(
            call(service.clone(), Some("service")).await,
            (StatusCode::OK, "service".into())
        );
        for other in ["admin", "bank", "customer"] {
            let (status, body) = call(service.clone(), Some(other)).await;
            assert_eq!(status, StatusCode::FORBIDDEN, "{other}");
            assert!(body.contains("needs role service"), "{body}");
        }
        // And a service token opens no route of another role.
        let (status, _) = call(app(Arc::new(Bearer)), Some("service")).await;
        assert_eq!(status, StatusCode::FORBIDDEN);
    }

    #[tokio::test]
    async fn no_auth_admits_an_admin() {
        assert_eq!(
            call(app(Arc::new(NoAuth::admin())), None).await,
            (StatusCode::OK, "admin".into())
        );
        let (status, _) = call(app(Arc::new(NoAuth::as_role(Role::Customer))), None).await;
        assert_eq!(status, StatusCode::FORBIDDEN);
    }
}
