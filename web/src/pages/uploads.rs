//! Uploads (role `bank`): a CSV streamed through to `POST /v1/batches` with a live progress bar,
//! a batch from S3 by bucket and key, the report of one batch with its per-row errors, and the
//! batches started through this dashboard with their status.

use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::{header, HeaderMap, Method, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum::{Form, Json};
use futures::future::join_all;
use maud::{html, Markup};
use serde::Deserialize;
use serde_json::{json, Value};

use crate::api::{seg, ApiFailure, ApiResult};
use crate::layout::{notice, page, progress, respond, Nav, UiError, UiResult};
use crate::pages::config_form::errors_for;
use crate::recent::RecentBatch;
use crate::session::{Role, Session};
use crate::AppState;

fn num(v: &Value) -> u64 {
    v.as_u64().unwrap_or(0)
}

/// How far a batch is, in percent: 100 once it ended; otherwise bytes read of the total, when the
/// total is known.
fn percent(status: &Value) -> u64 {
    if status["status"].as_str() != Some("running") {
        return 100;
    }
    let (read, total) = (num(&status["bytes_read"]), num(&status["bytes_total"]));
    read.saturating_mul(100)
        .checked_div(total)
        .map_or(0, |p| p.min(99))
}

fn status_tag(status: &str) -> Markup {
    html! { span class={"tag " (status)} { (status) } }
}

/// The batches started here, each with its status read from the API (`None`: unreadable).
async fn recent_with_status(
    state: &AppState,
    bank: Option<&str>,
) -> Vec<(RecentBatch, ApiResult<Value>)> {
    let batches = state.recent.batches();
    let reads = batches.iter().map(|b| async move {
        match bank {
            Some(token) => state
                .api
                .get(&format!("/v1/batches/{}", seg(&b.batch_id)), token)
                .await
                .map(|a| a.body),
            None => Err(ApiFailure {
                status: Some(StatusCode::FORBIDDEN),
                message: "needs a bank token".into(),
                details: Vec::new(),
            }),
        }
    });
    batches
        .clone()
        .into_iter()
        .zip(join_all(reads).await)
        .collect()
}

/// The recent batches table, also shown on the overview.
pub(crate) async fn recent_table(state: &AppState, s: &Session) -> Markup {
    let bank = s.get(Role::Bank).map(|t| t.token.as_str());
    let rows = recent_with_status(state, bank).await;
    html! {
        div.table-wrap {
            table #batches {
                thead { tr { th { "Batch" } th { "Source" } th { "Started (UTC)" } th { "Status" } th.num { "Rows" } th.num { "Accepted" } th.num { "Rejected" } th { "Progress" } } }
                tbody {
                    @for (b, status) in &rows {
                        tr {
                            td.mono { a href={"/ui/batches/" (seg(&b.batch_id))} { (b.batch_id.get(..8).unwrap_or(&b.batch_id)) "…" } }
                            td { (b.source) }
                            td.nowrap { (b.started.format("%Y-%m-%d %H:%M:%S")) }
                            @match status {
                                Ok(st) => {
                                    td { (status_tag(st["status"].as_str().unwrap_or("unknown"))) }
                                    td.num { (num(&st["rows"])) }
                                    td.num { (num(&st["accepted"])) }
                                    td.num { (num(&st["rejected"])) }
                                    td { (progress(&format!("p-{}", b.batch_id), percent(st))) }
                                }
                                Err(f) => { td colspan="5" { "status unavailable: " (f.message) } }
                            }
                        }
                    }
                    @if rows.is_empty() { tr { td colspan="8" { "No batches uploaded from this dashboard yet." } } }
                }
            }
        }
    }
}

fn uploads_page(
    s: &Session,
    recent: Markup,
    s3_errors: &[(String, String)],
    banner: Option<Markup>,
    s3: (&str, &str),
) -> Markup {
    let can_upload = s.has(Role::Bank);
    page(
        "Uploads",
        Some(s),
        Nav::Uploads,
        html! {
            @if let Some(b) = banner { (b) }
            @if !can_upload {
                (notice("warn", "Uploading needs a bank token. Add one on the sign-in page to upload files and read batch status."))
            }
            div.grid2 {
                section.card {
                    h2 { "Upload a CSV file" }
                    form #upload-form method="post" action="/ui/uploads" enctype="multipart/form-data" {
                        label for="file" { "Transactions file (.csv)" }
                        input #file type="file" name="file" accept=".csv,text/csv" required disabled[!can_upload];
                        (progress("upload-progress", 0))
                        p #upload-status role="status" aria-live="polite" {}
                        button type="submit" disabled[!can_upload] { "Upload" }
                    }
                }
                section.card {
                    h2 { "Ingest a file from S3" }
                    form method="post" action="/ui/uploads/s3" {
                        div.field {
                            label for="bucket" { "Bucket" }
                            input #bucket type="text" name="bucket" value=(s3.0) required;
                            (errors_for(s3_errors, "bucket"))
                        }
                        div.field {
                            label for="key" { "Key" }
                            input #key type="text" name="key" value=(s3.1) required placeholder="incoming/2024-05-01.csv";
                            (errors_for(s3_errors, "key"))
                        }
                        button type="submit" disabled[!can_upload] { "Start the batch" }
                    }
                }
            }
            section {
                h2 { "Recent batches" }
                (recent)
            }
            script src="/ui/assets/upload.js" defer {}
        },
    )
}

pub(crate) async fn show(State(state): State<AppState>, s: Session) -> UiResult {
    let recent = recent_table(&state, &s).await;
    Ok(respond(
        StatusCode::OK,
        uploads_page(&s, recent, &[], None, ("", "")),
    ))
}

/// Sends a CSV body to `POST /v1/batches`; the batch id of the answer, also when the batch
/// failed part-way (the API then names the batch in its one detail).
async fn send_csv(
    state: &AppState,
    bank: &str,
    body: reqwest::Body,
    source: String,
) -> Result<String, ApiFailure> {
    let req = state
        .api
        .request(Method::POST, "/v1/batches", bank)
        .header(header::CONTENT_TYPE, "text/csv")
        .body(body);
    let batch_id = match state.api.send(req).await {
        Ok(answer) => answer.body["batch_id"].as_str().map(str::to_owned),
        Err(f) => match f.details.first().and_then(|d| d["batch_id"].as_str()) {
            Some(id) => Some(id.to_owned()),
            None => return Err(f),
        },
    };
    let batch_id = batch_id.ok_or_else(|| ApiFailure {
        status: Some(StatusCode::BAD_GATEWAY),
        message: "the API's answer named no batch".into(),
        details: Vec::new(),
    })?;
    state.recent.add_batch(&batch_id, source);
    Ok(batch_id)
}

/// The form without JavaScript: `multipart/form-data`, the file streamed through as it arrives.
pub(crate) async fn upload_form(
    State(state): State<AppState>,
    s: Session,
    headers: HeaderMap,
    body: Body,
) -> UiResult {
    let bank = s.token_for(Role::Bank)?.to_owned();
    let mut form = crate::multipart::reader(&headers, body)?;
    loop {
        let field = form
            .next_field()
            .await
            .map_err(|e| UiError::BadRequest(format!("the form could not be read: {e}")))?;
        let Some(field) = field else {
            return Err(UiError::BadRequest(
                "the form carried no file: choose a CSV file first".into(),
            ));
        };
        if field.name() != Some("file") {
            continue;
        }
        let source = format!("upload: {}", field.file_name().unwrap_or("file"));
        let id = send_csv(&state, &bank, reqwest::Body::wrap_stream(field), source).await?;
        return Ok(Redirect::to(&format!("/ui/batches/{}", seg(&id))).into_response());
    }
}

/// The upload script's request: the file itself as a `text/csv` body. Answers JSON for the
/// script: where the report is, or the error to show.
pub(crate) async fn upload_raw(
    State(state): State<AppState>,
    s: Session,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let Ok(bank) = s.token_for(Role::Bank) else {
        return (
            StatusCode::FORBIDDEN,
            Json(json!({"error": "uploading needs a bank token: add one on the sign-in page"})),
        )
            .into_response();
    };
    let name = headers
        .get("x-file-name")
        .and_then(|v| v.to_str().ok())
        .map(percent_decode)
        .unwrap_or_else(|| "file".into());
    let stream = body.into_data_stream();
    match send_csv(
        &state,
        bank,
        reqwest::Body::wrap_stream(stream),
        format!("upload: {name}"),
    )
    .await
    {
        Ok(id) => Json(json!({"batch_id": id, "report": format!("/ui/batches/{}", seg(&id))}))
            .into_response(),
        Err(f) => {
            let status = f.status.unwrap_or(StatusCode::SERVICE_UNAVAILABLE);
            (
                status,
                Json(json!({"error": format!("The upload was refused: {}.", f.message)})),
            )
                .into_response()
        }
    }
}

/// `%XX` escapes decoded (the script sends the file name URI-encoded); invalid UTF-8 is replaced.
fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' && i + 2 < bytes.len() {
            let hex = |b: u8| (b as char).to_digit(16);
            if let (Some(hi), Some(lo)) = (hex(bytes[i + 1]), hex(bytes[i + 2])) {
                out.push((hi * 16 + lo) as u8);
                i += 3;
                continue;
            }
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[derive(Deserialize)]
pub(crate) struct S3Form {
    bucket: String,
    key: String,
}

pub(crate) async fn upload_s3(
    State(state): State<AppState>,
    s: Session,
    Form(f): Form<S3Form>,
) -> UiResult {
    let bank = s.token_for(Role::Bank)?;
    let body = json!({"bucket": f.bucket.trim(), "key": f.key.trim()});
    match state
        .api
        .send_json(Method::POST, "/v1/batches/s3", bank, &body, None)
        .await
    {
        Ok(answer) => {
            let id = answer.body["batch_id"]
                .as_str()
                .unwrap_or_default()
                .to_owned();
            state
                .recent
                .add_batch(&id, format!("s3://{}/{}", f.bucket.trim(), f.key.trim()));
            Ok(Redirect::to(&format!("/ui/batches/{}", seg(&id))).into_response())
        }
        Err(f2)
            if matches!(f2.status, Some(s) if s.is_client_error() || s == StatusCode::SERVICE_UNAVAILABLE)
                && !f2.is(StatusCode::UNAUTHORIZED)
                && !f2.is(StatusCode::FORBIDDEN) =>
        {
            let errors = f2.field_errors();
            let banner = notice(
                "error",
                &format!("The S3 batch was not started: {}.", f2.message),
            );
            let recent = recent_table(&state, &s).await;
            let status = f2.status.unwrap_or(StatusCode::BAD_REQUEST);
            Ok(respond(
                status,
                uploads_page(&s, recent, &errors, Some(banner), (&f.bucket, &f.key)),
            ))
        }
        Err(f2) => Err(UiError::Api(f2)),
    }
}

pub(crate) async fn batch(
    State(state): State<AppState>,
    s: Session,
    Path(id): Path<String>,
) -> UiResult {
    let bank = s.token_for(Role::Bank)?;
    let st = state
        .api
        .get(&format!("/v1/batches/{}", seg(&id)), bank)
        .await?
        .body;
    let status = st["status"].as_str().unwrap_or("unknown").to_owned();
    let running = status == "running";
    let source = match st["source"]["type"].as_str() {
        Some("s3") => format!(
            "s3://{}/{}",
            st["source"]["bucket"].as_str().unwrap_or(""),
            st["source"]["key"].as_str().unwrap_or("")
        ),
        _ => state
            .recent
            .source_of(&id)
            .unwrap_or_else(|| "upload".into()),
    };
    let empty = Vec::new();
    let errors = st["errors"].as_array().unwrap_or(&empty);
    let body = html! {
        @if running {
            // Reloads itself until the batch ends: no script needed.
            meta http-equiv="refresh" content="1";
        }
        section.card {
            p.lead {
                (status_tag(&status)) " "
                span #batch-summary { (num(&st["rows"])) " rows, " (num(&st["accepted"])) " accepted, " (num(&st["rejected"])) " rejected" }
            }
            (progress("batch-progress", percent(&st)))
            dl.facts {
                dt { "Batch" } dd.mono { (id) }
                dt { "Source" } dd { (source) }
                @if running { dt { "Waiting for Kafka" } dd { (num(&st["pending"])) " rows" } }
            }
            @if let Some(failure) = st.get("failure").filter(|f| !f.is_null()) {
                (notice("error", &format!(
                    "The batch stopped{}: {}. Rows before that point stand.",
                    failure["line"].as_u64().map(|l| format!(" at line {l}")).unwrap_or_default(),
                    failure["message"].as_str().unwrap_or("unknown reason"))))
            }
        }
        section {
            h2 { "Rejected rows" }
            @if errors.is_empty() {
                p { "No row was rejected." }
            } @else {
                @if num(&st["rejected"]) > errors.len() as u64 {
                    p.hint { "The first " (errors.len()) " of " (num(&st["rejected"])) " rejected rows." }
                }
                div.table-wrap {
                    table #row-errors {
                        thead { tr { th.num { "Line" } th { "Id" } th { "What is wrong" } } }
                        tbody {
                            @for e in errors {
                                tr {
                                    td.num { (num(&e["line"])) }
                                    td.mono { (e["id"].as_str().unwrap_or("")) }
                                    td {
                                        ul.plain {
                                            @for (i, f) in e["fields"].as_array().unwrap_or(&empty).iter().enumerate() {
                                                li { strong { (f.as_str().unwrap_or("")) } ": " (e["messages"][i].as_str().unwrap_or("invalid")) }
                                            }
                                        }
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
        p { a href="/ui/uploads" { "Back to uploads" } }
    };
    Ok(respond(
        StatusCode::OK,
        page("Batch report", Some(&s), Nav::Uploads, body),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn progress_of_a_batch() {
        assert_eq!(percent(&json!({"status": "done"})), 100);
        assert_eq!(percent(&json!({"status": "failed"})), 100);
        assert_eq!(
            percent(&json!({"status": "running", "bytes_read": 50, "bytes_total": 200})),
            25
        );
        assert_eq!(
            percent(&json!({"status": "running", "bytes_read": 200, "bytes_total": 200})),
            99
        );
        assert_eq!(
            percent(&json!({"status": "running", "bytes_read": 5, "bytes_total": null})),
            0
        );
    }

    #[test]
    fn file_names_are_decoded() {
        assert_eq!(percent_decode("my%20file.csv"), "my file.csv");
        assert_eq!(percent_decode("bad%2"), "bad%2");
        assert_eq!(percent_decode("%E2%82%AC.csv"), "€.csv");
    }
}
