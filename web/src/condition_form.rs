//! Conditions (REWARDS.md §2) as form rows: a field, an op and a value written the way a person
//! writes it (`5999, 5815-5818`), to and from the JSON the API takes. The API validates; this
//! only shapes the text.

use maud::{html, Markup};
use serde_json::{json, Value};

pub(crate) const FIELDS: [&str; 7] = [
    "mcc",
    "merchant",
    "currency",
    "foreign",
    "amount",
    "amount_sgd",
    "weekday",
];
pub(crate) const OPS: [&str; 10] = [
    "eq", "ne", "gt", "gte", "lt", "lte", "in", "not_in", "between", "contains",
];

/// One condition row as typed.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct Row {
    pub(crate) field: String,
    pub(crate) op: String,
    pub(crate) value: String,
}

/// The rows of a submitted form (`cond_field`, `cond_op`, `cond_value`, repeated in order);
/// rows with no field chosen are left out.
pub(crate) fn rows_of(fields: &[(String, String)]) -> Vec<Row> {
    let pick = |name: &str| -> Vec<&str> {
        fields
            .iter()
            .filter(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
            .collect()
    };
    let (f, o, v) = (pick("cond_field"), pick("cond_op"), pick("cond_value"));
    f.iter()
        .enumerate()
        .filter(|(_, field)| !field.trim().is_empty())
        .map(|(i, field)| Row {
            field: field.trim().to_owned(),
            op: o.get(i).map(|s| s.trim().to_owned()).unwrap_or_default(),
            value: v.get(i).map(|s| s.trim().to_owned()).unwrap_or_default(),
        })
        .collect()
}

/// A scalar as JSON: integers for `mcc`, booleans for `foreign`, strings otherwise (decimals are
/// strings in this API). Text that does not fit stays a string, for the API to explain.
fn scalar(field: &str, text: &str) -> Value {
    let text = text.trim();
    match field {
        "mcc" => text
            .parse::<i64>()
            .map(Value::from)
            .unwrap_or_else(|_| json!(text)),
        "foreign" => match text {
            "true" => json!(true),
            "false" => json!(false),
            _ => json!(text),
        },
        _ => json!(text),
    }
}

/// `lo-hi` (or `lo..hi`) as a pair, for MCC ranges; `None` if the text is not one.
fn range(text: &str) -> Option<(String, String)> {
    let (lo, hi) = text.split_once("..").or_else(|| text.split_once('-'))?;
    let (lo, hi) = (lo.trim(), hi.trim());
    (!lo.is_empty() && !hi.is_empty()).then(|| (lo.to_owned(), hi.to_owned()))
}

pub(crate) fn to_json(row: &Row) -> Value {
    let value = match row.op.as_str() {
        "in" | "not_in" => Value::Array(
            row.value
                .split(',')
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(|item| match (row.field.as_str(), range(item)) {
                    ("mcc", Some((lo, hi))) => json!([scalar("mcc", &lo), scalar("mcc", &hi)]),
                    _ => scalar(&row.field, item),
                })
                .collect(),
        ),
        "between" => {
            let parts: Vec<&str> = row.value.split(',').map(str::trim).collect();
            match parts.as_slice() {
                [lo, hi] => json!([scalar(&row.field, lo), scalar(&row.field, hi)]),
                _ => match range(&row.value) {
                    Some((lo, hi)) => json!([scalar(&row.field, &lo), scalar(&row.field, &hi)]),
                    None => json!(row.value),
                },
            }
        }
        _ => scalar(&row.field, &row.value),
    };
    json!({"field": row.field, "op": row.op, "value": value})
}

fn text_of(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Array(items) if items.len() == 2 && items.iter().all(|i| !i.is_array()) => {
            format!("{}-{}", text_of(&items[0]), text_of(&items[1]))
        }
        other => other.to_string(),
    }
}

/// A stored condition as a row.
pub(crate) fn from_json(c: &Value) -> Row {
    let field = c["field"].as_str().unwrap_or("").to_owned();
    let op = c["op"].as_str().unwrap_or("").to_owned();
    let value = match (&c["value"], op.as_str()) {
        (Value::Array(items), "in" | "not_in") => {
            items.iter().map(text_of).collect::<Vec<_>>().join(", ")
        }
        (Value::Array(items), "between") if items.len() == 2 => {
            format!("{}, {}", text_of(&items[0]), text_of(&items[1]))
        }
        (v, _) => text_of(v),
    };
    Row { field, op, value }
}

/// The rows' editor: the given rows plus two blank ones; `errors` are the API's
/// `conditions[i]...` messages, shown under row `i`.
pub(crate) fn editor(rows: &[Row], errors: &[(String, String)]) -> Markup {
    let mut all = rows.to_vec();
    all.push(Row::default());
    all.push(Row::default());
    html! {
        fieldset.conditions {
            legend { "Conditions (all must hold; none = always)" }
            p.hint { "Lists are comma-separated; an MCC range is written 5815-5818; "
                     "between takes two values (100, 500); foreign is true or false." }
            @for (i, row) in all.iter().enumerate() {
                @let prefix = format!("conditions[{i}]");
                @let row_errors: Vec<&str> = errors.iter()
                    .filter(|(f, _)| f == &prefix || f.starts_with(&format!("{prefix}.")))
                    .map(|(_, m)| m.as_str()).collect();
                div.cond-row data-row=(i) {
                    label {
                        span.sr { "Condition " (i + 1) " field" }
                        select name="cond_field" {
                            option value="" selected[row.field.is_empty()] { "—" }
                            @for f in FIELDS {
                                option value=(f) selected[row.field == f] { (f) }
                            }
                        }
                    }
                    label {
                        span.sr { "Condition " (i + 1) " operator" }
                        select name="cond_op" {
                            @for o in OPS {
                                option value=(o) selected[row.op == o] { (o) }
                            }
                        }
                    }
                    label.grow {
                        span.sr { "Condition " (i + 1) " value" }
                        input type="text" name="cond_value" value=(row.value) placeholder="value";
                    }
                    @for m in &row_errors {
                        p.field-error role="alert" { (m) }
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(field: &str, op: &str, value: &str) -> Row {
        Row {
            field: field.into(),
            op: op.into(),
            value: value.into(),
        }
    }

    #[test]
    fn rows_become_conditions() {
        assert_eq!(
            to_json(&row("mcc", "in", "5999, 5815-5818")),
            json!({"field": "mcc", "op": "in", "value": [5999, [5815, 5818]]})
        );
        assert_eq!(
            to_json(&row("amount_sgd", "between", "100, 500.50")),
            json!({"field": "amount_sgd", "op": "between", "value": ["100", "500.50"]})
        );
        assert_eq!(
            to_json(&row("foreign", "eq", "true")),
            json!({"field": "foreign", "op": "eq", "value": true})
        );
        assert_eq!(
            to_json(&row("merchant", "contains", "Kopitiam")),
            json!({"field": "merchant", "op": "contains", "value": "Kopitiam"})
        );
        // Not a number: left as text for the API to explain.
        assert_eq!(
            to_json(&row("mcc", "eq", "x")),
            json!({"field": "mcc", "op": "eq", "value": "x"})
        );
    }

    #[test]
    fn conditions_become_rows_and_back() {
        for c in [
            json!({"field": "mcc", "op": "in", "value": [5999, [5815, 5818]]}),
            json!({"field": "amount_sgd", "op": "between", "value": ["100", "500"]}),
            json!({"field": "currency", "op": "not_in", "value": ["SGD", "USD"]}),
            json!({"field": "mcc", "op": "gte", "value": 3501}),
        ] {
            assert_eq!(to_json(&from_json(&c)), c);
        }
    }

    #[test]
    fn blank_rows_are_dropped() {
        let f = |k: &str, v: &str| (k.to_owned(), v.to_owned());
        let fields = vec![
            f("cond_field", "mcc"),
            f("cond_op", "eq"),
            f("cond_value", "5411"),
            f("cond_field", ""),
            f("cond_op", "eq"),
            f("cond_value", ""),
        ];
        assert_eq!(rows_of(&fields), vec![row("mcc", "eq", "5411")]);
    }
}
