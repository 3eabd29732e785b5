//! `/v1/<resource>` and `/v1/<resource>/{id}` for programs, FX rates, campaigns and exclusions.

use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::{json, Value};
use spend_runtime::ApiError;
use spend_store::config_store::{Precondition, Resource, StoreError};
use uuid::Uuid;

use super::{store_error, AppState};
use crate::etag::{self, Condition};
use crate::kinds::{self, Parsed};
use crate::metrics;

/// `GET /v1/<res>`: `{"items": [...]}`, ordered by key.
pub(super) async fn list(state: AppState, resource: Resource) -> Result<Response, ApiError> {
    let objects = state
        .call(state.store.list(resource))
        .await
        .map_err(store_error)?;
    let items: Vec<Value> = objects.into_iter().map(|o| o.value).collect();
    Ok(Json(json!({ "items": items })).into_response())
}

/// `GET /v1/<res>/{id}`: the object, with its ETag.
pub(super) async fn get_one(
    state: AppState,
    resource: Resource,
    raw_id: String,
) -> Result<Response, ApiError> {
    let key = kinds::path_key(resource, &raw_id).ok_or_else(|| not_found(resource, &raw_id))?;
    match state
        .call(state.store.get(resource, &key))
        .await
        .map_err(store_error)?
    {
        Some(o) => Ok(object_response(StatusCode::OK, o.mod_revision, o.value)),
        None => Err(not_found(resource, &key)),
    }
}

/// `POST /v1/<res>`: creates the object; 409 if its key is taken. Campaigns and exclusions
/// without an id get a new v4 UUID.
pub(super) async fn create(
    state: AppState,
    resource: Resource,
    body: Value,
) -> Result<Response, ApiError> {
    let parsed =
        kinds::parse(resource, &body, Uuid::new_v4()).map_err(|e| kinds::invalid(resource, e))?;
    let mut preconditions = vec![Precondition::Absent(resource, parsed.key.clone())];
    preconditions.extend(program_checks(&parsed));
    let revision = state
        .call(
            state
                .store
                .put(resource, &parsed.key, parsed.value.clone(), &preconditions),
        )
        .await
        .map_err(|e| write_error(resource, &parsed.key, e, Implicit::Absent))?;
    metrics::write_succeeded(Some(resource), "create");
    let mut response = object_response(StatusCode::CREATED, revision, parsed.value);
    let location = format!("/v1/{}/{}", resource.as_str(), parsed.key);
    if let Ok(v) = HeaderValue::from_str(&location) {
        response.headers_mut().insert(header::LOCATION, v);
    }
    Ok(response)
}

/// `PUT /v1/<res>/{id}`: replaces the object, or creates it when absent (unless `If-Match` asks
/// for an existing version). The body's key may be omitted; if given it must be the path's.
pub(super) async fn replace(
    state: AppState,
    resource: Resource,
    raw_id: String,
    headers: HeaderMap,
    mut body: Value,
) -> Result<Response, ApiError> {
    let field = kinds::key_field(resource);
    let key = kinds::path_key(resource, &raw_id).ok_or_else(|| {
        kinds::invalid_field(
            resource,
            field,
            format!(
                "the path names {raw_id:?}, which is not a valid {} {field}",
                kinds::noun(resource)
            ),
        )
    })?;
    if let Value::Object(map) = &mut body {
        if map.get(field).is_none_or(Value::is_null) {
            map.insert(field.to_owned(), Value::String(key.clone()));
        }
    }
    // The key is in the body now, so the default id is never used.
    let parsed =
        kinds::parse(resource, &body, Uuid::nil()).map_err(|e| kinds::invalid(resource, e))?;
    if parsed.key != key {
        return Err(kinds::invalid_field(
            resource,
            field,
            format!("must match the path's {field} {key}, but is {}", parsed.key),
        ));
    }
    let mut preconditions = conditional(&state, resource, &key, &headers).await?;
    preconditions.extend(program_checks(&parsed));
    let revision = state
        .call(
            state
                .store
                .put(resource, &key, parsed.value.clone(), &preconditions),
        )
        .await
        .map_err(|e| write_error(resource, &key, e, Implicit::None))?;
    metrics::write_succeeded(Some(resource), "replace");
    Ok(object_response(StatusCode::OK, revision, parsed.value))
}

/// `DELETE /v1/<res>/{id}`: 204; 404 if absent; 409 for a program that campaigns or exclusions
/// still name.
pub(super) async fn delete(
    state: AppState,
    resource: Resource,
    raw_id: String,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let key = kinds::path_key(resource, &raw_id).ok_or_else(|| not_found(resource, &raw_id))?;
    let mut preconditions = conditional(&state, resource, &key, &headers).await?;
    let implicit = if preconditions.is_empty() {
        preconditions.push(Precondition::Exists(resource, key.clone()));
        Implicit::Exists
    } else {
        Implicit::None
    };
    let mut attempts = 0;
    loop {
        let mut guarded = preconditions.clone();
        if resource == Resource::Program {
            let read_at = ensure_unused(&state, &key).await?;
            guarded.extend(
                [Resource::Campaign, Resource::Exclusion, Resource::Mission]
                    .map(|r| Precondition::NoneWrittenSince(r, read_at)),
            );
        }
        match state
            .call(state.store.delete(resource, &key, &guarded))
            .await
        {
            Ok(_) => break,
            // A campaign or exclusion was written since the check: check again.
            Err(StoreError::PreconditionFailed(Precondition::NoneWrittenSince(..)))
                if attempts < DELETE_ATTEMPTS =>
            {
                attempts += 1;
            }
            Err(StoreError::PreconditionFailed(Precondition::NoneWrittenSince(..))) => {
                return Err(ApiError::conflict(format!(
                    "campaigns and exclusions kept changing while program {key} was being \
                     deleted; try again"
                )));
            }
            Err(e) => return Err(write_error(resource, &key, e, implicit)),
        }
    }
    metrics::write_succeeded(Some(resource), "delete");
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// How many times deleting a program re-checks that nothing names it, when campaigns or
/// exclusions are written between the check and the delete.
const DELETE_ATTEMPTS: u32 = 5;

fn object_response(status: StatusCode, revision: i64, value: Value) -> Response {
    (status, [(header::ETAG, etag::etag(revision))], Json(value)).into_response()
}

fn not_found(resource: Resource, key: &str) -> ApiError {
    ApiError::not_found(format!("{} {key} not found", kinds::noun(resource)))
}

/// Every program a campaign or exclusion names must exist when it is written, checked by the
/// store atomically with the write.
fn program_checks(parsed: &Parsed) -> impl Iterator<Item = Precondition> + '_ {
    parsed
        .programs
        .iter()
        .map(|p| Precondition::Exists(Resource::Program, p.clone()))
}

/// The preconditions `If-Match` and `If-None-Match` ask for. Tags that can never match fail at
/// once; a list of several tags is resolved against the current version, whose revision then
/// becomes the precondition, so the check stays atomic with the write.
async fn conditional(
    state: &AppState,
    resource: Resource,
    key: &str,
    headers: &HeaderMap,
) -> Result<Vec<Precondition>, ApiError> {
    let if_match = etag::if_match(headers)?;
    let if_none_match = etag::if_none_match(headers)?;
    let mut out = Vec::new();
    let needs_current = matches!(&if_match, Some(Condition::Tags(t)) if t.len() > 1)
        || matches!(&if_none_match, Some(Condition::Tags(_)));
    let current = if needs_current {
        state
            .call(state.store.get(resource, key))
            .await
            .map_err(store_error)?
            .map(|o| o.mod_revision)
    } else {
        None
    };
    match if_match {
        None => {}
        Some(Condition::Any) => out.push(Precondition::Exists(resource, key.to_owned())),
        Some(Condition::Tags(tags)) => {
            let ours: Vec<i64> = tags.into_iter().flatten().collect();
            let revision = match ours.as_slice() {
                [one] => Some(*one),
                _ => current.filter(|c| ours.contains(c)),
            };
            match revision {
                Some(r) => out.push(Precondition::ModRevision(resource, key.to_owned(), r)),
                None => return Err(stale(resource, key)),
            }
        }
    }
    match if_none_match {
        None => {}
        Some(Condition::Any) => out.push(Precondition::Absent(resource, key.to_owned())),
        Some(Condition::Tags(tags)) => match current {
            Some(c) if tags.contains(&Some(c)) => {
                return Err(ApiError::precondition_failed(format!(
                    "if-none-match matches the current version of {} {key}",
                    kinds::noun(resource)
                )))
            }
            Some(c) => out.push(Precondition::ModRevision(resource, key.to_owned(), c)),
            None => out.push(Precondition::Absent(resource, key.to_owned())),
        },
    }
    Ok(out)
}

fn stale(resource: Resource, key: &str) -> ApiError {
    ApiError::precondition_failed(format!(
        "if-match does not match the current version of {} {key}: it was changed or deleted \
         since; read it again and retry",
        kinds::noun(resource)
    ))
}

/// A precondition on the object itself that the handler added without the client asking.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Implicit {
    None,
    /// `POST`: the key must be free (409 otherwise).
    Absent,
    /// `DELETE` without `If-Match`: the object must exist (404 otherwise).
    Exists,
}

/// The answer to a failed write, from which precondition failed.
fn write_error(resource: Resource, key: &str, e: StoreError, implicit: Implicit) -> ApiError {
    let noun = kinds::noun(resource);
    let StoreError::PreconditionFailed(p) = e else {
        return store_error(e);
    };
    match p {
        Precondition::Absent(r, id) if r == resource && id == key => {
            if implicit == Implicit::Absent {
                ApiError::conflict(format!("{noun} {key} already exists"))
            } else {
                ApiError::precondition_failed(format!("{noun} {key} already exists"))
            }
        }
        Precondition::Exists(r, id) if r == resource && id == key => {
            if implicit == Implicit::Exists {
                not_found(resource, key)
            } else {
                ApiError::precondition_failed(format!("{noun} {key} does not exist"))
            }
        }
        Precondition::ModRevision(r, id, _) if r == resource && id == key => stale(resource, key),
        Precondition::Exists(Resource::Program, program) => kinds::invalid_field(
            resource,
            kinds::program_field(resource),
            format!("names {program}, which is not a configured program"),
        ),
        other => store_error(StoreError::PreconditionFailed(other)),
    }
}

/// 409 when campaigns or exclusions still name the program; otherwise the revision they were
/// read at.
///
/// The delete that follows is guarded by no campaign or exclusion having been written since
/// that revision ([`Precondition::NoneWrittenSince`]), so a campaign created for the program in
/// between is never left naming a deleted program: such a configuration does not compile, and
/// the rewarders would keep their last rule set, deaf to every later change, until it was fixed.
async fn ensure_unused(state: &AppState, program: &str) -> Result<i64, ApiError> {
    let snapshot = state
        .call(state.store.snapshot())
        .await
        .map_err(store_error)?;
    let mut users = Vec::new();
    let mut counts = Vec::new();
    for resource in [Resource::Campaign, Resource::Exclusion, Resource::Mission] {
        let objects = snapshot.objects.iter().filter(|o| o.resource == resource);
        let before = users.len();
        for o in objects {
            if kinds::programs_named(resource, &o.value)
                .iter()
                .any(|p| p == program)
            {
                users.push(json!({
                    "resource": resource.as_str(),
                    "id": o.id,
                    "name": o.value.get("name").cloned().unwrap_or(Value::Null),
                }));
            }
        }
        let n = users.len() - before;
        if n > 0 {
            let noun = kinds::noun(resource);
            counts.push(format!("{n} {noun}{}", if n == 1 { "" } else { "s" }));
        }
    }
    if users.is_empty() {
        return Ok(snapshot.revision);
    }
    Err(ApiError::conflict(format!(
        "program {program} is still named by {}: change or delete them first",
        counts.join(" and ")
    ))
    .with_details(users))
}
