//! Dry run (admin): a campaign draft and a transactions CSV, evaluated before anything is
//! published. The configuration in force is read through the API (`GET /v1/config`); the rows run
//! through `spend-domain`'s validation and reward engine twice — as configured, and with the draft
//! added (or replacing the campaign it edits) — exactly as `spend eval` runs them. Nothing is
//! written anywhere.

use std::collections::BTreeMap;

use axum::body::Body;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode};
use maud::{html, Markup};
use rust_decimal::Decimal;
use serde::Deserialize;
use serde_json::json;
use spend_domain::config::Config;
use spend_domain::csv::CsvReader;
use spend_domain::eval::Outcome;
use spend_domain::ledger::MemoryLedger;
use spend_domain::money::fmt2;
use spend_domain::rules::RuleSet;
use spend_domain::transaction::parse_transaction;
use uuid::Uuid;

use crate::api::seg;
use crate::layout::{notice, page, respond, Nav, UiError, UiResult};
use crate::multipart;
use crate::pages::config_form::{campaign_fields, other_errors, programs, Draft};
use crate::session::{Role, Session};
use crate::AppState;

/// The largest CSV this page takes (it is held in memory while it runs).
const MAX_CSV_BYTES: usize = 20 * 1024 * 1024;
/// How many rows the result table lists (the totals count every row).
const ROWS_SHOWN: usize = 200;

#[derive(Deserialize)]
pub(crate) struct DryRunQuery {
    campaign: Option<String>,
}

fn form_page(
    s: &Session,
    d: &Draft,
    replaces: Option<&str>,
    progs: &[(String, String, String)],
    errors: &[(String, String)],
    before: Option<Markup>,
    result: Option<Markup>,
) -> Markup {
    page(
        "Dry run",
        Some(s),
        Nav::DryRun,
        html! {
            p.hint { "What would a campaign pay on a spend history? Nothing is published: the rows run "
                     "through the reward engine against the configuration in force, with and without this draft." }
            @if let Some(b) = before { (b) }
            (other_errors(errors))
            form.card method="post" action="/ui/dry-run#dry-run-result" enctype="multipart/form-data" novalidate {
                @if let Some(id) = replaces {
                    input type="hidden" name="replaces" value=(id);
                    p.hint { "This draft replaces campaign " span.mono { (id) } " in the run." }
                }
                (campaign_fields(d, progs, errors))
                div.field {
                    label for="csv" { "Transactions (.csv)" }
                    input #csv type="file" name="csv" accept=".csv,text/csv" required;
                }
                div.actions { button type="submit" { "Run" } }
            }
            @if let Some(r) = result { (r) }
        },
    )
}

pub(crate) async fn show(
    State(state): State<AppState>,
    s: Session,
    Query(q): Query<DryRunQuery>,
) -> UiResult {
    let admin = s.token_for(Role::Admin)?;
    let progs = programs(&state, &s).await?;
    let (draft, replaces) = match q.campaign.as_deref().filter(|c| !c.is_empty()) {
        Some(id) => {
            let answer = state
                .api
                .get(&format!("/v1/campaigns/{}", seg(id)), admin)
                .await?;
            (Draft::from_json(&answer.body), Some(id.to_owned()))
        }
        None => (
            Draft {
                kind: "promo".into(),
                priority: "10".into(),
                ..Draft::default()
            },
            None,
        ),
    };
    Ok(respond(
        StatusCode::OK,
        form_page(&s, &draft, replaces.as_deref(), &progs, &[], None, None),
    ))
}

pub(crate) async fn run(
    State(state): State<AppState>,
    s: Session,
    headers: HeaderMap,
    body: Body,
) -> UiResult {
    let admin = s.token_for(Role::Admin)?;
    let form = multipart::collect(&headers, body, MAX_CSV_BYTES).await?;
    let mut draft = Draft::from_form(&form.fields);
    let replaces = Some(multipart::value(&form.fields, "replaces").trim().to_owned())
        .filter(|r| !r.is_empty());
    let progs = programs(&state, &s).await?;
    let fail = |errors: Vec<(String, String)>, message: String| {
        respond(
            StatusCode::UNPROCESSABLE_ENTITY,
            form_page(
                &s,
                &draft_for_page(&form.fields),
                replaces.as_deref(),
                &progs,
                &errors,
                Some(notice("error", &message)),
                None,
            ),
        )
    };
    let Some((file_name, csv)) = form.file else {
        return Ok(fail(
            Vec::new(),
            "Choose a CSV file of transactions to run.".into(),
        ));
    };

    let answer = state.api.get("/v1/config", admin).await?;
    let revision = answer.body["revision"].as_i64().unwrap_or(0);
    let mut doc = answer.body;
    if let Some(m) = doc.as_object_mut() {
        m.remove("revision");
    }
    let current = Config::from_json(&doc, &mut Uuid::new_v4).map_err(|e| {
        UiError::BadRequest(format!(
            "the configuration in force could not be read: {}",
            e.0.iter()
                .map(|f| format!("{}: {}", f.field, f.message))
                .collect::<Vec<_>>()
                .join("; ")
        ))
    })?;

    // The draft, validated by the same code the campaign API uses.
    let draft_id = replaces
        .as_deref()
        .and_then(|r| Uuid::parse_str(r).ok())
        .unwrap_or_else(Uuid::new_v4);
    draft.id = Some(draft_id.hyphenated().to_string());
    let fragment = json!({"campaigns": [draft.campaign_json()]});
    let draft_config = match Config::fragment_from_json(&fragment, &mut Uuid::new_v4) {
        Ok(c) => c,
        Err(invalid) => {
            let errors = invalid
                .0
                .iter()
                .map(|f| {
                    (
                        f.field
                            .strip_prefix("campaigns[0].")
                            .unwrap_or(&f.field)
                            .to_owned(),
                        f.message.clone(),
                    )
                })
                .collect();
            return Ok(fail(
                errors,
                "The draft is not a valid campaign: see the messages beside the fields.".into(),
            ));
        }
    };
    let mut with_draft = current.clone();
    with_draft.campaigns.retain(|c| c.id != draft_id);
    let with_draft = with_draft.merge(draft_config);
    let before = match RuleSet::compile(&current, revision) {
        Ok(r) => r,
        Err(e) => {
            return Err(UiError::BadRequest(format!(
                "the configuration in force does not compile: {}",
                e.0.iter()
                    .map(|f| f.message.clone())
                    .collect::<Vec<_>>()
                    .join("; ")
            )))
        }
    };
    let after = match RuleSet::compile(&with_draft, revision) {
        Ok(r) => r,
        Err(e) => {
            let errors =
                e.0.iter()
                    .map(|f| (String::new(), f.message.clone()))
                    .collect();
            return Ok(fail(
                errors,
                "The draft does not fit the configuration in force.".into(),
            ));
        }
    };

    let result = match evaluate(&before, &after, draft_id, &csv) {
        Ok(r) => r,
        Err(message) => return Ok(fail(Vec::new(), format!("{file_name}: {message}"))),
    };
    let summary = result_markup(&result, &file_name, revision);
    Ok(respond(
        StatusCode::OK,
        form_page(
            &s,
            &draft_for_page(&form.fields),
            replaces.as_deref(),
            &progs,
            &[],
            None,
            Some(summary),
        ),
    ))
}

fn draft_for_page(fields: &[(String, String)]) -> Draft {
    Draft::from_form(&fields.to_vec())
}

/// One row's outcome, as the page shows it.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
struct RowResult {
    line: u64,
    id: String,
    merchant: String,
    amount: String,
    before: String,
    after: String,
    /// The draft was a winner for this row.
    decided: bool,
}

#[derive(Debug, Default)]
struct DryRun {
    rows: Vec<RowResult>,
    count: usize,
    rejected: usize,
    decided: usize,
    /// unit → (total before, total after)
    totals: BTreeMap<String, (Decimal, Decimal)>,
}

fn outcome_text(o: &Outcome) -> String {
    match o {
        Outcome::Rewarded(r) => format!("{} {}", fmt2(r.reward), r.unit.as_str()),
        Outcome::DeadLetter(reason) => format!("dead letter: {}", reason.as_str()),
        Outcome::Duplicate => "duplicate".into(),
    }
}

fn evaluate(before: &RuleSet, after: &RuleSet, draft: Uuid, csv: &[u8]) -> Result<DryRun, String> {
    let today = chrono::Utc::now().date_naive();
    let (mut lb, mut la) = (MemoryLedger::new(), MemoryLedger::new());
    let mut out = DryRun::default();
    for row in CsvReader::new(csv) {
        let row = row.map_err(|e| format!("refused at {e}"))?;
        out.count += 1;
        let tx = match row.raw.and_then(|raw| parse_transaction(&raw, today)) {
            Ok(tx) => tx,
            Err(rejection) => {
                out.rejected += 1;
                if out.rows.len() < ROWS_SHOWN {
                    out.rows.push(RowResult {
                        line: row.line,
                        id: rejection.raw_id.clone(),
                        before: format!("rejected: {}", rejection.remark()),
                        after: String::new(),
                        ..RowResult::default()
                    });
                }
                continue;
            }
        };
        let (ob, oa) = (before.evaluate(&tx, &lb), after.evaluate(&tx, &la));
        lb.record(&tx, &ob);
        la.record(&tx, &oa);
        let decided = matches!(&oa, Outcome::Rewarded(r) if r.base_campaign == Some(draft) || r.promo_campaign == Some(draft));
        out.decided += usize::from(decided);
        for (o, after_side) in [(&ob, false), (&oa, true)] {
            if let Outcome::Rewarded(r) = o {
                let e = out.totals.entry(r.unit.as_str().to_owned()).or_default();
                if after_side {
                    e.1 += r.reward;
                } else {
                    e.0 += r.reward;
                }
            }
        }
        if out.rows.len() < ROWS_SHOWN {
            out.rows.push(RowResult {
                line: row.line,
                id: tx.id.to_string(),
                merchant: tx.merchant.clone(),
                amount: format!("{} {}", tx.amount, tx.currency),
                before: outcome_text(&ob),
                after: outcome_text(&oa),
                decided,
            });
        }
    }
    Ok(out)
}

fn result_markup(r: &DryRun, file_name: &str, revision: i64) -> Markup {
    html! {
        section #dry-run-result {
            h2 { "What it would pay" }
            p { (r.count) " rows of " (file_name) ", " (r.rejected) " rejected; the draft decides "
                strong { (r.decided) } " of them. Configuration revision " (revision) "." }
            div.table-wrap {
                table #dry-run-totals {
                    thead { tr { th { "Unit" } th.num { "As configured" } th.num { "With the draft" } th.num { "Difference" } } }
                    tbody {
                        @for (unit, (b, a)) in &r.totals {
                            tr { td { (unit) } td.num { (fmt2(*b)) } td.num { (fmt2(*a)) } td.num { strong { (fmt2(*a - *b)) } } }
                        }
                        @if r.totals.is_empty() { tr { td colspan="4" { "No row was rewarded." } } }
                    }
                }
            }
            @if r.count > r.rows.len() { p.hint { "The first " (r.rows.len()) " rows:" } }
            div.table-wrap {
                table #dry-run-rows {
                    thead { tr { th.num { "Line" } th { "Id" } th { "Merchant" } th.num { "Amount" } th { "As configured" } th { "With the draft" } } }
                    tbody {
                        @for row in &r.rows {
                            tr class=[row.decided.then_some("decided")] {
                                td.num { (row.line) }
                                td.mono.small { (row.id) }
                                td { (row.merchant) }
                                td.num.nowrap { (row.amount) }
                                td { (row.before) }
                                td { (row.after) @if row.decided { " " span.tag.promo { "draft" } } }
                            }
                        }
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::Value;

    const CONFIG: &str = r#"{
        "programs": [{"id": "p", "name": "P", "unit": "points"}],
        "campaigns": [{"id": "00000000-0000-4000-8000-000000000001", "name": "base", "program": "p",
                       "kind": "base", "priority": 1, "rate": "1", "conditions": []}]
    }"#;
    const CSV: &str = "id,transaction_id,merchant,mcc,currency,amount,transaction_date,card_id,card_pan,card_type\n\
        00000000-0000-4000-8000-000000000101,T1,Kopitiam,5814,SGD,10.00,2024-05-01,00000000-0000-4000-8000-0000000000a1,4111111111111111,p\n\
        00000000-0000-4000-8000-000000000102,T2,Shop,5999,SGD,20.00,2024-05-01,00000000-0000-4000-8000-0000000000a1,4111111111111111,p\n\
        bad,T3,Shop,5999,SGD,20.00,2024-05-01,00000000-0000-4000-8000-0000000000a1,4111111111111111,p\n";

    #[test]
    fn a_draft_promo_is_compared_with_the_configuration() {
        let config: Value = serde_json::from_str(CONFIG).unwrap();
        let current = Config::from_json(&config, &mut Uuid::new_v4).unwrap();
        let draft = Uuid::new_v4();
        let fragment = json!({"campaigns": [{"id": draft.to_string(), "name": "kopi", "program": "p",
            "kind": "promo", "priority": 1, "rate": "2",
            "conditions": [{"field": "merchant", "op": "contains", "value": "kopi"}]}]});
        let with = current
            .clone()
            .merge(Config::fragment_from_json(&fragment, &mut Uuid::new_v4).unwrap());
        let before = RuleSet::compile(&current, 3).unwrap();
        let after = RuleSet::compile(&with, 3).unwrap();
        let r = evaluate(&before, &after, draft, CSV.as_bytes()).unwrap();
        assert_eq!((r.count, r.rejected, r.decided), (3, 1, 1));
        let (b, a) = r.totals["points"];
        assert_eq!((fmt2(b), fmt2(a)), ("30.00".to_owned(), "50.00".to_owned()));
        assert_eq!(r.rows[0].after, "30.00 points");
        assert!(r.rows[0].decided);
        assert!(r.rows[2].before.starts_with("rejected: "));
    }
}
