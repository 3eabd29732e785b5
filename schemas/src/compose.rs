//! Composing the `*.avsc` files into self-contained schemas.
//!
//! A schema file may use a named type defined in another file by its full name (e.g.
//! `"dev.spend.Transaction"`), the way Avro tools import schemas. Composition inlines the definition
//! at its first use — later uses stay references, as Avro requires — so every schema the codec
//! holds is self-contained: it is what a fingerprint is computed over, and any Avro tool can read
//! it without the other files.

use std::collections::HashSet;

use apache_avro::Schema;
use serde_json::{Map, Value};

use crate::error::{Result, SchemaError};

/// The named types that schema files may reference, by full name, with their files.
pub(crate) const NAMED_TYPES: &[(&str, &str)] = &[
    (
        "dev.spend.TransactionType",
        include_str!("../transaction_type.avsc"),
    ),
    (
        "dev.spend.DeadLetterReason",
        include_str!("../dead_letter_reason.avsc"),
    ),
    ("dev.spend.Transaction", include_str!("../transaction.avsc")),
];

/// Parses `json`, inlining every named type of `named` it references, into a self-contained schema.
pub fn compose(json: &str, named: &[(&str, &str)]) -> Result<Schema> {
    let composed = compose_json(json, named)?;
    Schema::parse(&composed).map_err(|e| SchemaError::InvalidSchema(e.to_string()))
}

/// As [`compose`], but answers the composed JSON text (docs and defaults kept).
pub fn compose_json(json: &str, named: &[(&str, &str)]) -> Result<Value> {
    let mut value = parse_json(json)?;
    let mut defined = HashSet::new();
    inline(&mut value, None, named, &mut defined, 0)?;
    Ok(value)
}

fn parse_json(json: &str) -> Result<Value> {
    serde_json::from_str(json).map_err(|e| SchemaError::InvalidSchema(e.to_string()))
}

/// Guards against a named type that (indirectly) contains itself through the files.
const MAX_DEPTH: usize = 32;

/// Walks a schema in document order (Avro's definition order), recording the named types it
/// defines and replacing a reference to a not yet defined type of `named` by its definition.
fn inline(
    schema: &mut Value,
    namespace: Option<&str>,
    named: &[(&str, &str)],
    defined: &mut HashSet<String>,
    depth: usize,
) -> Result<()> {
    if depth > MAX_DEPTH {
        return Err(SchemaError::InvalidSchema(
            "named types nest too deeply".to_owned(),
        ));
    }
    match schema {
        Value::String(reference) => {
            let full = full_name(reference, namespace);
            if defined.contains(&full) {
                return Ok(());
            }
            let Some((_, json)) = named.iter().find(|(name, _)| *name == full) else {
                return Ok(()); // a primitive type name, or a name defined elsewhere
            };
            let mut definition = parse_json(json)?;
            inline(&mut definition, None, named, defined, depth + 1)?;
            *schema = definition;
            Ok(())
        }
        Value::Array(branches) => {
            for branch in branches {
                inline(branch, namespace, named, defined, depth)?;
            }
            Ok(())
        }
        Value::Object(object) => inline_object(object, namespace, named, defined, depth),
        _ => Err(SchemaError::InvalidSchema(
            "a schema must be a string, an array or an object".to_owned(),
        )),
    }
}

fn inline_object(
    object: &mut Map<String, Value>,
    namespace: Option<&str>,
    named: &[(&str, &str)],
    defined: &mut HashSet<String>,
    depth: usize,
) -> Result<()> {
    let kind = object.get("type").and_then(Value::as_str).unwrap_or("");
    let mut own_namespace = namespace.map(str::to_owned);
    if matches!(kind, "record" | "error" | "enum" | "fixed") {
        let name = object.get("name").and_then(Value::as_str).unwrap_or("");
        let explicit = object.get("namespace").and_then(Value::as_str);
        let full = full_name(name, explicit.or(namespace));
        own_namespace = full.rsplit_once('.').map(|(ns, _)| ns.to_owned());
        defined.insert(full);
    }
    let ns = own_namespace.as_deref();
    match kind {
        "record" | "error" => {
            if let Some(Value::Array(fields)) = object.get_mut("fields") {
                for field in fields {
                    if let Some(field_type) = field.get_mut("type") {
                        inline(field_type, ns, named, defined, depth)?;
                    }
                }
            }
        }
        "array" => {
            if let Some(items) = object.get_mut("items") {
                inline(items, ns, named, defined, depth)?;
            }
        }
        "map" => {
            if let Some(values) = object.get_mut("values") {
                inline(values, ns, named, defined, depth)?;
            }
        }
        "enum" | "fixed" => {}
        // `{"type": "int", "logicalType": …}` and friends: the inner type is primitive.
        _ => {}
    }
    Ok(())
}

fn full_name(name: &str, namespace: Option<&str>) -> String {
    match namespace {
        Some(ns) if !name.contains('.') && !ns.is_empty() && !is_primitive(name) => {
            format!("{ns}.{name}")
        }
        _ => name.to_owned(),
    }
}

fn is_primitive(name: &str) -> bool {
    matches!(
        name,
        "null" | "boolean" | "int" | "long" | "float" | "double" | "bytes" | "string"
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    const LEAF: &str = r#"{"type":"enum","name":"Leaf","namespace":"t","symbols":["a","b"]}"#;

    #[test]
    fn inlines_first_use_and_keeps_later_uses_as_references() {
        let json = r#"{"type":"record","name":"R","namespace":"t","fields":[
            {"name":"x","type":"t.Leaf"},
            {"name":"y","type":["null","t.Leaf"]}
        ]}"#;
        let composed = compose_json(json, &[("t.Leaf", LEAF)]).unwrap();
        assert_eq!(composed["fields"][0]["type"]["type"], "enum");
        assert_eq!(composed["fields"][1]["type"][1], "t.Leaf");
        // and the result is a valid self-contained schema
        compose(json, &[("t.Leaf", LEAF)]).unwrap();
    }

    #[test]
    fn an_unknown_reference_is_an_error_from_the_parser() {
        let json = r#"{"type":"record","name":"R","fields":[{"name":"x","type":"t.Nope"}]}"#;
        assert!(matches!(
            compose(json, &[]),
            Err(SchemaError::InvalidSchema(_))
        ));
    }

    #[test]
    fn a_recursive_type_stays_a_reference() {
        let looping = r#"{"type":"record","name":"A","namespace":"t","fields":[
            {"name":"b","type":"t.B"}]}"#;
        let other = r#"{"type":"record","name":"B","namespace":"t","fields":[
            {"name":"a","type":["null","t.A"]}]}"#;
        // A defines itself before B refers back to it, so the reference stays a reference.
        compose(looping, &[("t.A", looping), ("t.B", other)]).unwrap();
    }

    #[test]
    fn garbage_is_refused() {
        assert!(compose("{", &[]).is_err());
        assert!(compose("42", &[]).is_err());
    }
}
