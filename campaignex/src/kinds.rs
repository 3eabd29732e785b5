//! What differs between the five resources: how an object is parsed (always through
//! `spend-domain`), what its key is, and which programs it names.

use serde_json::Value;
use spend_domain::config::{Campaign, Exclusion, FieldError, FxRate, Invalid, Mission, Program};
use spend_domain::{parse_uuid_strict, CurrencyCode, ProgramId};
use spend_runtime::ApiError;
use spend_store::config_store::Resource;
use uuid::Uuid;

/// A validated object, ready to be stored.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct Parsed {
    /// The store key: program id, currency code, or lower-case UUID.
    pub(crate) key: String,
    /// The canonical JSON (`to_json` of the domain object).
    pub(crate) value: Value,
    /// The programs the object names (campaign: one; exclusion: its list, or none for `null`).
    pub(crate) programs: Vec<String>,
}

/// `campaign`, `fx rate`: the word error messages use.
pub(crate) fn noun(resource: Resource) -> &'static str {
    match resource {
        Resource::Program => "program",
        Resource::Campaign => "campaign",
        Resource::Exclusion => "exclusion",
        Resource::FxRate => "fx rate",
        Resource::Mission => "mission",
    }
}

/// The field of the body that holds the key.
pub(crate) fn key_field(resource: Resource) -> &'static str {
    match resource {
        Resource::FxRate => "currency",
        _ => "id",
    }
}

/// Whether the server assigns the key when the body has none (API.md: campaigns and exclusions;
/// missions likewise).
pub(crate) fn assigns_id(resource: Resource) -> bool {
    matches!(
        resource,
        Resource::Campaign | Resource::Exclusion | Resource::Mission
    )
}

/// The store key a path segment names, or `None` if no object could ever have it. UUIDs are
/// accepted in either case and keyed in lower case, as the product writes ids.
pub(crate) fn path_key(resource: Resource, raw: &str) -> Option<String> {
    match resource {
        Resource::Program => ProgramId::parse(raw).map(|p| p.to_string()),
        Resource::FxRate => CurrencyCode::parse(raw).map(|c| c.to_string()),
        Resource::Campaign | Resource::Exclusion | Resource::Mission => {
            parse_uuid_strict(raw).map(|u| u.hyphenated().to_string())
        }
    }
}

/// Parses one object through `spend-domain`. `default_id` is used by campaigns and exclusions
/// whose body has no id.
pub(crate) fn parse(resource: Resource, body: &Value, default_id: Uuid) -> Result<Parsed, Invalid> {
    Ok(match resource {
        Resource::Program => {
            let p = Program::from_json(body)?;
            Parsed {
                key: p.key(),
                value: p.to_json(),
                programs: Vec::new(),
            }
        }
        Resource::FxRate => {
            let r = FxRate::from_json(body)?;
            Parsed {
                key: r.key(),
                value: r.to_json(),
                programs: Vec::new(),
            }
        }
        Resource::Campaign => {
            let c = Campaign::from_json(body, default_id)?;
            Parsed {
                key: c.key(),
                value: c.to_json(),
                programs: vec![c.program.to_string()],
            }
        }
        Resource::Exclusion => {
            let x = Exclusion::from_json(body, default_id)?;
            let mut programs: Vec<String> =
                x.programs.iter().flatten().map(|p| p.to_string()).collect();
            programs.sort();
            programs.dedup();
            Parsed {
                key: x.key(),
                value: x.to_json(),
                programs,
            }
        }
        Resource::Mission => {
            let m = Mission::from_json(body, default_id)?;
            Parsed {
                key: m.key(),
                value: m.to_json(),
                programs: vec![m.program.to_string()],
            }
        }
    })
}

/// The programs a stored object names (for the program-delete check).
pub(crate) fn programs_named(resource: Resource, value: &Value) -> Vec<String> {
    match resource {
        Resource::Campaign | Resource::Mission => value
            .get("program")
            .and_then(Value::as_str)
            .map(|p| vec![p.to_owned()])
            .unwrap_or_default(),
        Resource::Exclusion => value
            .get("programs")
            .and_then(Value::as_array)
            .map(|ps| {
                ps.iter()
                    .filter_map(Value::as_str)
                    .map(str::to_owned)
                    .collect()
            })
            .unwrap_or_default(),
        Resource::Program | Resource::FxRate => Vec::new(),
    }
}

/// The field of a campaign or exclusion that names programs.
pub(crate) fn program_field(resource: Resource) -> &'static str {
    match resource {
        Resource::Exclusion => "programs",
        _ => "program",
    }
}

pub(crate) fn field_errors(errors: &[FieldError]) -> Vec<Value> {
    errors
        .iter()
        .map(|e| ApiError::field_detail(&e.field, &e.message))
        .collect()
}

/// 422 `invalid <noun>` with one detail per failing field.
pub(crate) fn invalid(resource: Resource, errors: Invalid) -> ApiError {
    ApiError::unprocessable(
        format!("invalid {}", noun(resource)),
        field_errors(&errors.0),
    )
}

/// 422 `invalid <noun>` with one detail.
pub(crate) fn invalid_field(resource: Resource, field: &str, message: String) -> ApiError {
    ApiError::unprocessable(
        format!("invalid {}", noun(resource)),
        vec![ApiError::field_detail(field, message)],
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn path_keys() {
        assert_eq!(
            path_key(Resource::Campaign, "3B1F0000-0000-4000-8000-00000000000A").as_deref(),
            Some("3b1f0000-0000-4000-8000-00000000000a")
        );
        assert_eq!(path_key(Resource::Campaign, "nope"), None);
        assert_eq!(
            path_key(Resource::Program, "scis_shopping").as_deref(),
            Some("scis_shopping")
        );
        assert_eq!(path_key(Resource::Program, "Bad-Id"), None);
        assert_eq!(path_key(Resource::FxRate, "USD").as_deref(), Some("USD"));
        assert_eq!(path_key(Resource::FxRate, "usd"), None);
    }

    #[test]
    fn parses_through_the_domain() {
        let id = Uuid::new_v4();
        let p = parse(
            Resource::Exclusion,
            &json!({"name": "x", "programs": ["b", "a", "b"], "conditions": []}),
            id,
        )
        .unwrap();
        assert_eq!(p.key, id.hyphenated().to_string());
        assert_eq!(p.programs, vec!["a", "b"]);
        assert_eq!(
            programs_named(Resource::Exclusion, &p.value),
            vec!["b", "a", "b"]
        );
        let e = parse(Resource::Program, &json!({"id": "p", "unit": "stars"}), id).unwrap_err();
        assert!(e.0.iter().any(|f| f.field == "unit"));
        assert!(e.0.iter().any(|f| f.field == "name"));
    }
}
