//! The header check: the first row's names against the two column lists.

use super::{COLUMNS_BASE, COLUMNS_WITH_TYPE};
use crate::pan::redact_pans;
use crate::transaction::shorten;

/// Checks a header's trimmed names against the two column lists; the error says what differs.
pub(super) fn check_header(names: &[&str]) -> Result<(), String> {
    if names == COLUMNS_BASE || names == COLUMNS_WITH_TYPE {
        return Ok(());
    }
    let expected: &[&str] = if names.len() > COLUMNS_BASE.len() || names.contains(&"type") {
        &COLUMNS_WITH_TYPE
    } else {
        &COLUMNS_BASE
    };
    let mut problems = Vec::new();
    if names
        .first()
        .is_some_and(|n| crate::types::parse_uuid_strict(n).is_some())
    {
        problems.push("the first row looks like data, not a header".to_owned());
    } else {
        let missing: Vec<&str> = expected
            .iter()
            .copied()
            .filter(|c| !names.contains(c))
            .collect();
        let unknown: Vec<String> = names
            .iter()
            .filter(|n| !COLUMNS_WITH_TYPE.contains(n))
            .take(5)
            .map(|n| format!("{:?}", shorten(&redact_pans(n), 32)))
            .collect();
        let mut repeated: Vec<&str> = names
            .iter()
            .copied()
            .filter(|n| {
                COLUMNS_WITH_TYPE.contains(n) && names.iter().filter(|m| *m == n).count() > 1
            })
            .collect();
        repeated.dedup();
        if !missing.is_empty() {
            problems.push(format!("missing {}", missing.join(", ")));
        }
        if !unknown.is_empty() {
            problems.push(format!("unknown {}", unknown.join(", ")));
        }
        if !repeated.is_empty() {
            problems.push(format!("repeated {}", repeated.join(", ")));
        }
        if problems.is_empty() {
            // Every expected name exactly once and nothing else: the order is wrong, or this is
            // the 12-column list's `type` without `original_id` or the other way round.
            problems.push("columns out of order".to_owned());
        }
    }
    Err(format!(
        "header must be exactly \"{}\" or \"{}\"; got {} columns: {}",
        COLUMNS_BASE.join(","),
        COLUMNS_WITH_TYPE.join(","),
        names.len(),
        problems.join("; ")
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_errors_say_what_differs() {
        let e = check_header(&["id", "transaction_id"]).unwrap_err();
        assert!(e.contains("missing merchant, mcc"), "{e}");
        let mut v = COLUMNS_BASE.to_vec();
        v.swap(0, 1);
        let e = check_header(&v).unwrap_err();
        assert!(e.ends_with("columns out of order"), "{e}");
        let mut v = COLUMNS_WITH_TYPE.to_vec();
        v[8] = "4111117777777772";
        let e = check_header(&v).unwrap_err();
        assert!(
            e.contains("missing card_pan; unknown \"411111******7772\""),
            "{e}"
        );
        let mut v = COLUMNS_BASE.to_vec();
        v.push("card_type");
        let e = check_header(&v).unwrap_err();
        assert!(e.contains("repeated card_type"), "{e}");
        let e = check_header(&["00000000-0000-4000-8000-000000000701", "x"]).unwrap_err();
        assert!(e.contains("looks like data"), "{e}");
        assert!(!e.contains("00000000-0000-4000-8000-000000000701"), "{e}");
    }
}
