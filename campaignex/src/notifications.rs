//! A cardholder's notification settings (`/v1/me/notifications`): whether to get email at all,
//! and how often a digest of new rewards goes out. The product keeps the choice; sending the
//! email is a mailer's job, which reads the same settings.
//!
//! Who "me" is comes from the token: its `sub` claim when it has one, otherwise the set of cards
//! it lists ([`customer_of`]).

use serde_json::{json, Map, Value};
use spend_runtime::{ApiError, Principal};
use uuid::Uuid;

/// How often a digest of new rewards is emailed.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) enum Digest {
    Off,
    Daily,
    Weekly,
    Monthly,
}

impl Digest {
    pub(crate) const ALL: [Digest; 4] =
        [Digest::Off, Digest::Daily, Digest::Weekly, Digest::Monthly];

    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Digest::Off => "off",
            Digest::Daily => "daily",
            Digest::Weekly => "weekly",
            Digest::Monthly => "monthly",
        }
    }

    fn parse(s: &str) -> Option<Digest> {
        Digest::ALL.into_iter().find(|d| d.as_str() == s)
    }
}

/// The settings of one customer, valid by construction.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) struct NotificationSettings {
    /// The master switch: `false` means no email of any kind, whatever `digest` says (the digest
    /// choice is kept, so switching email back on restores it).
    pub(crate) email: bool,
    pub(crate) digest: Digest,
}

/// The fields of the body, in the order the errors name them.
const FIELDS: [&str; 2] = ["email", "digest"];

impl NotificationSettings {
    /// What a customer who never chose has: no email (email is opt-in), and a weekly digest once
    /// they switch email on.
    pub(crate) const DEFAULT: NotificationSettings = NotificationSettings {
        email: false,
        digest: Digest::Weekly,
    };

    pub(crate) fn to_json(self) -> Value {
        json!({"email": self.email, "digest": self.digest.as_str()})
    }

    /// Reads a body: an object with exactly `email` (a boolean) and `digest` (one of
    /// [`Digest::ALL`]). `Err` holds one `{field, message}` detail per problem.
    pub(crate) fn from_json(body: &Value) -> Result<NotificationSettings, Vec<Value>> {
        let Value::Object(map) = body else {
            return Err(vec![ApiError::field_detail("", "must be a json object")]);
        };
        let mut errors = Vec::new();
        for key in map.keys() {
            if !FIELDS.contains(&key.as_str()) {
                errors.push(ApiError::field_detail(
                    key.as_str(),
                    format!(
                        "is not a known field; the fields are: {}",
                        FIELDS.join(", ")
                    ),
                ));
            }
        }
        let email = read(map, "email", &mut errors, |v| {
            v.as_bool()
                .ok_or_else(|| "must be true or false".to_owned())
        });
        let digest = read(map, "digest", &mut errors, |v| {
            v.as_str()
                .and_then(Digest::parse)
                .ok_or_else(|| format!("must be one of: {}", digest_names()))
        });
        match (email, digest) {
            (Some(email), Some(digest)) if errors.is_empty() => {
                Ok(NotificationSettings { email, digest })
            }
            _ => Err(errors),
        }
    }
}

pub(crate) fn digest_names() -> String {
    let names: Vec<&str> = Digest::ALL.iter().map(|d| d.as_str()).collect();
    names.join(", ")
}

/// A required member (absent or `null` is an error), read by `parse`.
fn read<T>(
    map: &Map<String, Value>,
    key: &str,
    errors: &mut Vec<Value>,
    parse: impl FnOnce(&Value) -> Result<T, String>,
) -> Option<T> {
    let parsed = match map.get(key) {
        None | Some(Value::Null) => Err("is required".to_owned()),
        Some(v) => parse(v),
    };
    parsed
        .map_err(|m| errors.push(ApiError::field_detail(key, m)))
        .ok()
}

/// The name a customer's settings are kept under: `sub:<sub>` for a token with a subject, so
/// every token of one customer shares them; for a token without one, `cards:<ids>` — its cards,
/// lower case, sorted, each once — so tokens for the same cards share them. A token with neither
/// names no customer: `None`.
pub(crate) fn customer_of(principal: &Principal) -> Option<String> {
    if !principal.subject.is_empty() {
        return Some(format!("sub:{}", principal.subject));
    }
    if principal.cards.is_empty() {
        return None;
    }
    let mut cards: Vec<Uuid> = principal.cards.clone();
    cards.sort_unstable();
    cards.dedup();
    let ids: Vec<String> = cards.iter().map(|c| c.hyphenated().to_string()).collect();
    Some(format!("cards:{}", ids.join(",")))
}

#[cfg(test)]
mod tests {
    use spend_runtime::Role;

    use super::*;

    fn fields(r: Result<NotificationSettings, Vec<Value>>) -> Vec<String> {
        r.unwrap_err()
            .iter()
            .map(|d| d["field"].as_str().unwrap().to_owned())
            .collect()
    }

    #[test]
    fn settings_round_trip() {
        for d in Digest::ALL {
            let v = json!({"email": true, "digest": d.as_str()});
            assert_eq!(NotificationSettings::from_json(&v).unwrap().to_json(), v);
        }
        assert_eq!(
            NotificationSettings::DEFAULT.to_json(),
            json!({"email": false, "digest": "weekly"})
        );
    }

    #[test]
    fn every_problem_is_named() {
        let r = NotificationSettings::from_json(&json!({"email": "yes", "digest": "hourly"}));
        assert_eq!(fields(r), ["email", "digest"]);
        let r = NotificationSettings::from_json(&json!({"sms": true, "email": true}));
        assert_eq!(fields(r), ["sms", "digest"]);
        let r = NotificationSettings::from_json(&json!({"email": null, "digest": "Weekly"}));
        assert_eq!(fields(r), ["email", "digest"]);
        assert_eq!(fields(NotificationSettings::from_json(&json!([]))), [""]);
    }

    #[test]
    fn a_customer_is_its_subject_or_its_cards() {
        let a = Uuid::parse_str("00000000-0000-4000-8000-0000000000a2").unwrap();
        let b = Uuid::parse_str("00000000-0000-4000-8000-0000000000a1").unwrap();
        let p = |subject: &str, cards: Vec<Uuid>| Principal {
            subject: subject.into(),
            role: Role::Customer,
            cards,
        };
        assert_eq!(customer_of(&p("c-42", vec![a])).unwrap(), "sub:c-42");
        assert_eq!(
            customer_of(&p("", vec![a, b, a])),
            customer_of(&p("", vec![b, a]))
        );
        assert_eq!(
            customer_of(&p("", vec![a])).unwrap(),
            "cards:00000000-0000-4000-8000-0000000000a2"
        );
        assert_eq!(customer_of(&p("", vec![])), None);
    }
}
