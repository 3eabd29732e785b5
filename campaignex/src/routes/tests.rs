//! How each failure becomes an answer, through `Router::oneshot` and a scripted store: no I/O.

use std::sync::{Arc, Mutex};

use axum::body::Body;
use axum::http::{header, Request, StatusCode};
use futures::stream::BoxStream;
use serde_json::{json, Value};
use spend_runtime::{with_json_fallbacks, NoAuth};
use spend_store::config_store::{
    ConfigStore, Event, Precondition, Resource, Result, Snapshot, StoreError, Versioned,
};
use tower::ServiceExt;

use crate::{router, CampaignexConfig, CampaignexDeps};

/// Reads find nothing; every write fails with the scripted error (or succeeds at revision 7).
#[derive(Default)]
struct Scripted {
    write_error: Mutex<Option<StoreError>>,
    read_error: Mutex<Option<StoreError>>,
    objects: Vec<Versioned>,
}

fn take(slot: &Mutex<Option<StoreError>>) -> Result<()> {
    match slot.lock().unwrap().take() {
        Some(e) => Err(e),
        None => Ok(()),
    }
}

#[async_trait::async_trait]
impl ConfigStore for Scripted {
    async fn get(&self, resource: Resource, id: &str) -> Result<Option<Versioned>> {
        take(&self.read_error)?;
        Ok(self
            .objects
            .iter()
            .find(|o| o.resource == resource && o.id == id)
            .cloned())
    }
    async fn list(&self, resource: Resource) -> Result<Vec<Versioned>> {
        take(&self.read_error)?;
        Ok(self
            .objects
            .iter()
            .filter(|o| o.resource == resource)
            .cloned()
            .collect())
    }
    async fn snapshot(&self) -> Result<Snapshot> {
        take(&self.read_error)?;
        Ok(Snapshot {
            revision: 7,
            objects: self.objects.clone(),
        })
    }
    async fn put(&self, _: Resource, _: &str, _: Value, _: &[Precondition]) -> Result<i64> {
        take(&self.write_error).map(|()| 7)
    }
    async fn delete(&self, _: Resource, _: &str, _: &[Precondition]) -> Result<i64> {
        take(&self.write_error).map(|()| 7)
    }
    async fn replace_all(&self, _: Vec<(Resource, String, Value)>) -> Result<i64> {
        take(&self.write_error).map(|()| 7)
    }
    async fn watch(&self, _: i64) -> Result<BoxStream<'static, Result<Event>>> {
        Err(StoreError::Unavailable("not in this test".into()))
    }
}

fn app(store: Scripted, body_limit_bytes: usize) -> axum::Router {
    let config = CampaignexConfig {
        body_limit_bytes,
        ..CampaignexConfig::default()
    };
    let deps = CampaignexDeps {
        store: Arc::new(store),
        auth: Arc::new(NoAuth::admin()),
    };
    with_json_fallbacks(router(&config, deps))
}

fn failing_writes(e: StoreError) -> Scripted {
    Scripted {
        write_error: Mutex::new(Some(e)),
        ..Scripted::default()
    }
}

async fn send(app: axum::Router, req: Request<Body>) -> (StatusCode, Value) {
    let res = app.oneshot(req).await.unwrap();
    let status = res.status();
    let bytes = axum::body::to_bytes(res.into_body(), 1 << 20)
        .await
        .unwrap();
    let body = if bytes.is_empty() {
        Value::Null
    } else {
        serde_json::from_slice(&bytes)
            .unwrap_or_else(|_| panic!("not json: {}", String::from_utf8_lossy(&bytes)))
    };
    (status, body)
}

fn json_req(method: &str, path: &str, body: &str) -> Request<Body> {
    Request::builder()
        .method(method)
        .uri(path)
        .header(header::CONTENT_TYPE, "application/json")
        .body(Body::from(body.to_owned()))
        .unwrap()
}

const CAMPAIGN: &str = r#"{"name": "c", "program": "p1", "kind": "base", "priority": 1,
    "conditions": [], "rate": "1"}"#;

#[tokio::test]
async fn unknown_program_is_422_naming_it() {
    let store = failing_writes(StoreError::PreconditionFailed(Precondition::Exists(
        Resource::Program,
        "p1".into(),
    )));
    let (status, body) = send(
        app(store, 1 << 20),
        json_req("POST", "/v1/campaigns", CAMPAIGN),
    )
    .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(
        body,
        json!({"error": "invalid campaign", "details": [
            {"field": "program", "message": "names p1, which is not a configured program"}]})
    );
}

#[tokio::test]
async fn taken_key_is_409() {
    let store = failing_writes(StoreError::PreconditionFailed(Precondition::Absent(
        Resource::Program,
        "p1".into(),
    )));
    let req = json_req(
        "POST",
        "/v1/programs",
        r#"{"id": "p1", "name": "P", "unit": "miles"}"#,
    );
    let (status, body) = send(app(store, 1 << 20), req).await;
    assert_eq!(status, StatusCode::CONFLICT);
    assert_eq!(body["error"], "program p1 already exists");
}

#[tokio::test]
async fn stale_revision_is_412() {
    let store = failing_writes(StoreError::PreconditionFailed(Precondition::ModRevision(
        Resource::Program,
        "p1".into(),
        3,
    )));
    let mut req = json_req(
        "PUT",
        "/v1/programs/p1",
        r#"{"name": "P", "unit": "miles"}"#,
    );
    req.headers_mut()
        .insert(header::IF_MATCH, "\"3\"".parse().unwrap());
    let (status, body) = send(app(store, 1 << 20), req).await;
    assert_eq!(status, StatusCode::PRECONDITION_FAILED);
    assert!(body["error"]
        .as_str()
        .unwrap()
        .starts_with("if-match does not match"));
}

#[tokio::test]
async fn deleting_a_missing_object_is_404() {
    let store = failing_writes(StoreError::PreconditionFailed(Precondition::Exists(
        Resource::FxRate,
        "USD".into(),
    )));
    let req = Request::delete("/v1/fx-rates/USD")
        .body(Body::empty())
        .unwrap();
    let (status, body) = send(app(store, 1 << 20), req).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(body["error"], "fx rate USD not found");
}

#[tokio::test]
async fn unavailable_is_503_without_the_cause() {
    let store = failing_writes(StoreError::Unavailable("etcd at 10.0.0.1 refused".into()));
    let req = json_req("PUT", "/v1/config", "{}");
    let (status, body) = send(app(store, 1 << 20), req).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(
        body,
        json!({"error": "configuration store unavailable", "details": []})
    );

    let store = Scripted {
        read_error: Mutex::new(Some(StoreError::Unavailable("down".into()))),
        ..Scripted::default()
    };
    let req = Request::get("/v1/campaigns").body(Body::empty()).unwrap();
    let (status, _) = send(app(store, 1 << 20), req).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
}

#[tokio::test]
async fn rejected_replacement_is_422_and_corrupt_data_a_generic_500() {
    let store = failing_writes(StoreError::Rejected("too many objects".into()));
    let (status, body) = send(app(store, 1 << 20), json_req("PUT", "/v1/config", "{}")).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(body["details"][0]["message"], "too many objects");

    let store = failing_writes(StoreError::Corrupt("bad bytes at key x".into()));
    let (status, body) = send(app(store, 1 << 20), json_req("PUT", "/v1/config", "{}")).await;
    assert_eq!(status, StatusCode::INTERNAL_SERVER_ERROR);
    assert_eq!(body, json!({"error": "internal error", "details": []}));
}

#[tokio::test]
async fn request_problems() {
    let app = || app(Scripted::default(), 64);
    let (status, body) = send(app(), json_req("POST", "/v1/programs", "{\n\"id\": }")).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(
        body["error"].as_str().unwrap().contains("line 2 column 7"),
        "{body}"
    );

    let big = format!(
        r#"{{"id": "p", "name": "{}", "unit": "miles"}}"#,
        "x".repeat(100)
    );
    let (status, body) = send(app(), json_req("POST", "/v1/programs", &big)).await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE);
    assert_eq!(body["error"], "request body is too large");

    let req = Request::post("/v1/programs")
        .header(header::CONTENT_TYPE, "text/plain")
        .body(Body::from("{}"))
        .unwrap();
    let (status, _) = send(app(), req).await;
    assert_eq!(status, StatusCode::UNSUPPORTED_MEDIA_TYPE);

    let mut req = json_req("DELETE", "/v1/programs/p", "");
    req.headers_mut()
        .insert(header::IF_MATCH, "3".parse().unwrap());
    let (status, body) = send(app(), req).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(body["error"]
        .as_str()
        .unwrap()
        .starts_with("malformed if-match"));

    let (status, body) = send(
        app(),
        Request::get("/v1/nothing").body(Body::empty()).unwrap(),
    )
    .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(body["error"], "no route for GET /v1/nothing");

    let (status, body) = send(
        app(),
        Request::patch("/v1/programs").body(Body::empty()).unwrap(),
    )
    .await;
    assert_eq!(status, StatusCode::METHOD_NOT_ALLOWED);
    assert_eq!(body["error"], "method PATCH is not allowed on /v1/programs");
}

#[tokio::test]
async fn put_path_and_body_keys_must_agree() {
    let req = json_req(
        "PUT",
        "/v1/programs/p1",
        r#"{"id": "p2", "name": "P", "unit": "miles"}"#,
    );
    let (status, body) = send(app(Scripted::default(), 1 << 20), req).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(body["details"][0]["field"], "id");

    let req = json_req("PUT", "/v1/fx-rates/usd", r#"{"rate": "1.3"}"#);
    let (status, body) = send(app(Scripted::default(), 1 << 20), req).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(body["details"][0]["field"], "currency");
}

#[tokio::test]
async fn deleting_a_program_in_use_is_409_listing_the_users() {
    let campaign = Versioned {
        resource: Resource::Campaign,
        id: "00000000-0000-4000-8000-000000000001".into(),
        value: json!({"id": "00000000-0000-4000-8000-000000000001", "name": "c1", "program": "p1"}),
        mod_revision: 2,
    };
    let exclusion = Versioned {
        resource: Resource::Exclusion,
        id: "00000000-0000-4000-8000-000000000002".into(),
        value: json!({"id": "00000000-0000-4000-8000-000000000002", "name": "x1",
            "programs": ["p0", "p1"]}),
        mod_revision: 3,
    };
    let store = Scripted {
        objects: vec![campaign, exclusion],
        ..Scripted::default()
    };
    let req = Request::delete("/v1/programs/p1")
        .body(Body::empty())
        .unwrap();
    let (status, body) = send(app(store, 1 << 20), req).await;
    assert_eq!(status, StatusCode::CONFLICT);
    assert_eq!(
        body,
        json!({"error": "program p1 is still named by 1 campaign and 1 exclusion: change or delete them first",
            "details": [
                {"resource": "campaigns", "id": "00000000-0000-4000-8000-000000000001", "name": "c1"},
                {"resource": "exclusions", "id": "00000000-0000-4000-8000-000000000002", "name": "x1"}]})
    );
}

#[tokio::test]
async fn every_configuration_route_needs_admin() {
    let deps = CampaignexDeps {
        store: Arc::new(Scripted::default()),
        auth: Arc::new(NoAuth::as_role(spend_runtime::Role::Bank)),
    };
    let app = with_json_fallbacks(router(&CampaignexConfig::default(), deps));
    for (method, path) in [
        ("GET", "/v1/programs"),
        ("POST", "/v1/campaigns"),
        ("PUT", "/v1/exclusions/00000000-0000-4000-8000-000000000001"),
        ("DELETE", "/v1/fx-rates/USD"),
        ("GET", "/v1/config"),
        ("PUT", "/v1/config"),
    ] {
        let (status, body) = send(app.clone(), json_req(method, path, "{}")).await;
        assert_eq!(status, StatusCode::FORBIDDEN, "{method} {path}");
        assert_eq!(
            body["error"],
            "this route needs role admin; the token has role bank"
        );
    }
    // The API's own description needs no role.
    let req = Request::get("/v1/openapi/campaignex.json")
        .body(Body::empty())
        .unwrap();
    let (status, _) = send(app, req).await;
    assert_eq!(status, StatusCode::OK);
}
