//! The path and query parameters of the reward routes, parsed into domain values or refused with
//! a 400 naming the parameter.
//!
//! Rules where API.md is silent: an empty value (`?from=`) is refused like any other value that
//! is not of the parameter's type (the OpenAPI document says `date`, not "date or empty"); a
//! parameter given twice is refused; parameters the route does not know are ignored (the way
//! most HTTP APIs treat them, so a client may add e.g. a cache buster); `from` after `to` is a
//! 400 rather than an empty answer, because it is always a client mistake.

use axum::extract::{FromRequestParts, Path, Query};
use axum::http::request::Parts;
use chrono::NaiveDate;
use serde::Deserialize;
use spend_domain::{CardId, RecordId};
use spend_runtime::ApiError;
use spend_store::api_error::cursor_error;
use spend_store::reward_store::{Cursor, DateRange, MAX_PAGE};

/// A history page when `limit` is not given (API.md).
pub(crate) const DEFAULT_LIMIT: u32 = 50;

/// The `{card_id}` or `{id}` segment, parsed as a lower- or upper-case hyphenated UUID.
pub(crate) struct PathUuid(pub(crate) uuid::Uuid);

impl<S: Send + Sync> FromRequestParts<S> for PathUuid {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let Path(segment) = Path::<String>::from_request_parts(parts, state)
            .await
            .map_err(|e| {
                ApiError::bad_request(format!("invalid path: {}", e.body_text().to_lowercase()))
            })?;
        // Both route families name their one parameter; say which in the message.
        let name = if parts.uri.path().starts_with("/v1/cards/") {
            "card_id"
        } else {
            "id"
        };
        spend_domain::parse_uuid_strict(&segment)
            .map(PathUuid)
            .ok_or_else(|| {
                ApiError::bad_request(format!("{name} must be a uuid (8-4-4-4-12 hex digits)"))
            })
    }
}

impl PathUuid {
    pub(crate) fn card(&self) -> CardId {
        CardId(self.0)
    }

    pub(crate) fn record(&self) -> RecordId {
        RecordId(self.0)
    }
}

/// The raw query string's known parameters; the rest are ignored.
#[derive(Deserialize, Default)]
pub(crate) struct RawParams {
    from: Option<String>,
    to: Option<String>,
    limit: Option<String>,
    cursor: Option<String>,
}

/// The query, with axum's rejection (a duplicate, bad percent-encoding) in the API's error shape.
pub(crate) struct Params(pub(crate) RawParams);

impl<S: Send + Sync> FromRequestParts<S> for Params {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        Query::<RawParams>::from_request_parts(parts, state)
            .await
            .map(|Query(p)| Params(p))
            .map_err(|e| {
                let text = e.body_text();
                // "Failed to deserialize query string: duplicate field `from`" → the cause only.
                let cause = text.rsplit(": ").next().unwrap_or(&text).to_lowercase();
                ApiError::bad_request(format!("invalid query: {cause}"))
            })
    }
}

/// `YYYY-MM-DD`, a real date.
fn date(name: &str, v: &Option<String>) -> Result<Option<NaiveDate>, ApiError> {
    let Some(s) = v.as_deref() else {
        return Ok(None);
    };
    let b = s.as_bytes();
    let shaped = b.len() == 10
        && b.iter().enumerate().all(|(i, c)| match i {
            4 | 7 => *c == b'-',
            _ => c.is_ascii_digit(),
        });
    shaped
        .then(|| NaiveDate::parse_from_str(s, "%Y-%m-%d").ok())
        .flatten()
        .map(Some)
        .ok_or_else(|| ApiError::bad_request(format!("{name} must be a date written YYYY-MM-DD")))
}

impl RawParams {
    /// `from` and `to`, inclusive.
    pub(crate) fn range(&self) -> Result<DateRange, ApiError> {
        let range = DateRange::new(date("from", &self.from)?, date("to", &self.to)?);
        if range.is_empty() {
            return Err(ApiError::bad_request("from is after to"));
        }
        Ok(range)
    }

    /// `limit`: 1..=1000, default [`DEFAULT_LIMIT`].
    pub(crate) fn limit(&self) -> Result<u32, ApiError> {
        let Some(s) = self.limit.as_deref() else {
            return Ok(DEFAULT_LIMIT);
        };
        s.parse::<u32>()
            .ok()
            .filter(|n| (1..=MAX_PAGE).contains(n))
            .ok_or_else(|| {
                ApiError::bad_request(format!("limit must be an integer from 1 to {MAX_PAGE}"))
            })
    }

    /// `cursor`, which must have been issued for `card`.
    pub(crate) fn cursor(&self, card: CardId) -> Result<Option<Cursor>, ApiError> {
        self.cursor
            .as_deref()
            .map(|s| Cursor::decode(s, card).map_err(cursor_error))
            .transpose()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use uuid::Uuid;

    /// `""` stands for a parameter that is not in the query.
    fn params(from: &str, to: &str, limit: &str, cursor: &str) -> RawParams {
        let s = |v: &str| (!v.is_empty()).then(|| v.to_owned());
        RawParams {
            from: s(from),
            to: s(to),
            limit: s(limit),
            cursor: s(cursor),
        }
    }

    #[test]
    fn absent_means_the_default_and_empty_is_refused() {
        let p = RawParams::default();
        assert_eq!(p.range().unwrap(), DateRange::ALL);
        assert_eq!(p.limit().unwrap(), DEFAULT_LIMIT);
        assert_eq!(p.cursor(CardId(Uuid::nil())).unwrap(), None);
        let empty = || Some(String::new());
        for (p, message) in [
            (
                RawParams {
                    from: empty(),
                    ..RawParams::default()
                },
                "from must be a date written YYYY-MM-DD",
            ),
            (
                RawParams {
                    to: empty(),
                    ..RawParams::default()
                },
                "to must be a date written YYYY-MM-DD",
            ),
        ] {
            assert_eq!(p.range().unwrap_err().error, message);
        }
        let p = RawParams {
            limit: empty(),
            ..RawParams::default()
        };
        assert_eq!(
            p.limit().unwrap_err().error,
            "limit must be an integer from 1 to 1000"
        );
        let p = RawParams {
            cursor: empty(),
            ..RawParams::default()
        };
        assert_eq!(
            p.cursor(CardId(Uuid::nil())).unwrap_err().error,
            "cursor is malformed"
        );
    }

    #[test]
    fn dates() {
        let d = |s| NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap();
        let p = params("2024-02-01", "2024-02-29", "", "");
        assert_eq!(
            p.range().unwrap(),
            DateRange::new(Some(d("2024-02-01")), Some(d("2024-02-29")))
        );
        for bad in [
            "2023-02-29",
            "2024-2-01",
            "20240201",
            "+2024-02-01",
            "2024-02-01T00",
        ] {
            let e = params(bad, "", "", "").range().unwrap_err();
            assert_eq!(e.error, "from must be a date written YYYY-MM-DD", "{bad}");
            let e = params("", bad, "", "").range().unwrap_err();
            assert_eq!(e.error, "to must be a date written YYYY-MM-DD", "{bad}");
        }
        let e = params("2024-03-01", "2024-02-29", "", "")
            .range()
            .unwrap_err();
        assert_eq!(
            (e.status.as_u16(), e.error.as_str()),
            (400, "from is after to")
        );
        assert!(params("2024-03-01", "2024-03-01", "", "").range().is_ok());
    }

    #[test]
    fn limits() {
        assert_eq!(params("", "", "1", "").limit().unwrap(), 1);
        assert_eq!(params("", "", "1000", "").limit().unwrap(), 1000);
        for bad in ["0", "1001", "-1", "ten", "1.5", "99999999999"] {
            let e = params("", "", bad, "").limit().unwrap_err();
            assert_eq!(e.error, "limit must be an integer from 1 to 1000", "{bad}");
        }
    }
}
