//! ETags are the store's mod revision of an object, quoted and strong: `"42"`.

use axum::http::{header, HeaderMap, HeaderName, HeaderValue};
use spend_runtime::ApiError;

pub(crate) fn etag(mod_revision: i64) -> HeaderValue {
    HeaderValue::from_str(&format!("\"{mod_revision}\"")).expect("digits are a valid header value")
}

/// What an `If-Match` or `If-None-Match` header asks for.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Condition {
    /// `*`: any current version.
    Any,
    /// A list of entity tags. `Some(r)` is a strong tag of ours (`"r"`); `None` is a tag that can
    /// never match one of ours under strong comparison (weak, or not a revision).
    Tags(Vec<Option<i64>>),
}

/// The condition of `name` (several header lines count as one comma-separated list), `None` if
/// absent, 400 if malformed.
pub(crate) fn condition(
    headers: &HeaderMap,
    name: HeaderName,
) -> Result<Option<Condition>, ApiError> {
    let mut text = String::new();
    for value in headers.get_all(&name) {
        let Ok(v) = value.to_str() else {
            return Err(malformed(&name));
        };
        if !text.is_empty() {
            text.push(',');
        }
        text.push_str(v);
    }
    if headers.get(&name).is_none() {
        return Ok(None);
    }
    if text.trim() == "*" {
        return Ok(Some(Condition::Any));
    }
    parse_tags(&text)
        .map(|tags| Some(Condition::Tags(tags)))
        .ok_or_else(|| malformed(&name))
}

pub(crate) fn if_match(headers: &HeaderMap) -> Result<Option<Condition>, ApiError> {
    condition(headers, header::IF_MATCH)
}

pub(crate) fn if_none_match(headers: &HeaderMap) -> Result<Option<Condition>, ApiError> {
    condition(headers, header::IF_NONE_MATCH)
}

fn malformed(name: &HeaderName) -> ApiError {
    ApiError::bad_request(format!(
        "malformed {name} header: expected * or a list of quoted etags such as \"42\""
    ))
}

/// RFC 9110 `#entity-tag`: `W/"x"` or `"x"`, comma-separated, at least one.
fn parse_tags(text: &str) -> Option<Vec<Option<i64>>> {
    let mut tags = Vec::new();
    let mut rest = text;
    loop {
        rest = rest.trim_start_matches([' ', '\t', ',']);
        if rest.is_empty() {
            break;
        }
        let (weak, after) = match rest.strip_prefix("W/") {
            Some(r) => (true, r),
            None => (false, rest),
        };
        let inner = after.strip_prefix('"')?;
        let end = inner.find('"')?;
        let opaque = &inner[..end];
        // etagc: %x21 / %x23-7E / obs-text
        if !opaque
            .bytes()
            .all(|b| b == 0x21 || (0x23..=0x7e).contains(&b) || b >= 0x80)
        {
            return None;
        }
        rest = &inner[end + 1..];
        let next = rest.trim_start_matches([' ', '\t']);
        if !(next.is_empty() || next.starts_with(',')) {
            return None;
        }
        let ours = opaque
            .parse::<i64>()
            .ok()
            .filter(|r| !weak && *r > 0 && opaque.bytes().all(|b| b.is_ascii_digit()));
        tags.push(ours);
    }
    (!tags.is_empty()).then_some(tags)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(v: &str) -> Result<Option<Condition>, ApiError> {
        let mut h = HeaderMap::new();
        h.insert(header::IF_MATCH, HeaderValue::from_str(v).unwrap());
        if_match(&h)
    }

    #[test]
    fn parses_if_match() {
        assert_eq!(if_match(&HeaderMap::new()).unwrap(), None);
        assert_eq!(parse("*").unwrap(), Some(Condition::Any));
        assert_eq!(
            parse("\"42\"").unwrap(),
            Some(Condition::Tags(vec![Some(42)]))
        );
        assert_eq!(
            parse(" \"1\", W/\"2\",\"x,y\"").unwrap(),
            Some(Condition::Tags(vec![Some(1), None, None]))
        );
        assert_eq!(parse("\"-3\"").unwrap(), Some(Condition::Tags(vec![None])));
        assert_eq!(parse("\"+3\"").unwrap(), Some(Condition::Tags(vec![None])));
        for bad in ["42", "\"42", "", "  ", "\"1\" \"2\"", "W/42", "\"a b\""] {
            let e = parse(bad).unwrap_err();
            assert_eq!(e.status, 400, "{bad:?}");
            assert!(
                e.error.starts_with("malformed if-match header"),
                "{}",
                e.error
            );
        }
    }

    #[test]
    fn formats_etags() {
        assert_eq!(etag(7), "\"7\"");
    }
}
