//! What every service's OpenAPI document writes the same way: schema references, error answers,
//! and the routes that need no token (the document itself, `/healthz`, `/readyz`, `/metrics`).
//! Each document is written as data (`serde_json`) by its crate and defines its own `Error`
//! schema (`{"error", "details"}`), whose details differ per service.

use serde_json::{json, Map, Value};

/// `{"$ref": "#/components/schemas/<name>"}`.
pub fn schema_ref(name: &str) -> Value {
    json!({"$ref": format!("#/components/schemas/{name}")})
}

/// An answer whose body is the document's `Error` schema.
pub fn error_response(description: &str) -> Value {
    json!({"description": description,
        "content": {"application/json": {"schema": schema_ref("Error")}}})
}

/// Adds the routes a service serves without a token: `openapi_path` (the document itself),
/// `/healthz`, `/readyz` (`readyz` says what it checks; its 503 names the backend that does not
/// answer) and `/metrics`, all tagged `meta`.
pub fn add_meta_paths(paths: &mut Map<String, Value>, openapi_path: &str, readyz: &str) {
    paths.insert(
        openapi_path.into(),
        json!({"get": {
            "operationId": "getOpenApi",
            "summary": "This document.",
            "security": [],
            "tags": ["meta"],
            "responses": {"200": {"description": "The OpenAPI document.",
                "content": {"application/json": {"schema": {"type": "object"}}}}}
        }}),
    );
    for (path, id, summary) in [
        ("/healthz", "getHealthz", "Alive: 200 `ok`."),
        ("/readyz", "getReadyz", readyz),
        ("/metrics", "getMetrics", "Prometheus text exposition."),
    ] {
        let mut responses = json!({"200": {"description": "OK.",
            "content": {"text/plain": {"schema": {"type": "string"}}}}});
        if path == "/readyz" {
            responses["503"] = error_response("A backend does not answer.");
        }
        paths.insert(
            path.into(),
            json!({"get": {"operationId": id, "summary": summary, "security": [],
                "tags": ["meta"], "responses": responses}}),
        );
    }
}

/// A lower- or upper-case hyphenated UUID (`8-4-4-4-12` hex digits), as every route accepts ids.
pub const UUID_PATTERN: &str =
    "^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$";

/// The characters of Unicode's `White_Space` property (what Rust's `str::trim` removes), for a
/// regular expression's character class: `\s` differs between regex dialects (ECMA-262's leaves
/// out U+0085 and adds U+FEFF), so the documents spell the class out.
pub const WHITE_SPACE_CLASS: &str =
    "\\t\\n\\x0b\\x0c\\r \\x85\\xa0\\u1680\\u2000-\\u200a\\u2028\\u2029\\u202f\\u205f\\u3000";

/// A string holding something besides white space (the pattern is unanchored).
pub fn not_blank_pattern() -> String {
    format!("[^{WHITE_SPACE_CLASS}]")
}

/// `YYYY-MM-DD`; with `"format": "date"` a real calendar date.
pub const DATE_PATTERN: &str = "^[0-9]{4}-[0-9]{2}-[0-9]{2}$";

/// A regular expression for the decimals the services read from text: plain digits, an optional
/// `.` and 1 to `frac` fractional digits (leading zeros allowed, no sign, no exponent), at most
/// `10^max_pow10`, greater than zero unless `zero` — so a schema states the range a decimal
/// string must be in, which `minimum`/`maximum` cannot say of a string.
pub fn decimal_pattern(max_pow10: usize, frac: usize, zero: bool) -> String {
    let fraction = |digits: &str| format!("(\\.{digits}{{1,{frac}}})?");
    let mut branches = vec![
        // 1 ..< 10^max_pow10
        format!(
            "0*[1-9][0-9]{{0,{}}}{}",
            max_pow10.saturating_sub(1),
            fraction("[0-9]")
        ),
        // 10^max_pow10 exactly
        format!("0*1{}{}", "0".repeat(max_pow10), fraction("0")),
    ];
    // 0 < x < 1: a non-zero digit within the first `frac` fractional digits.
    let small: Vec<String> = (0..frac)
        .map(|zeros| format!("{}[1-9][0-9]{{0,{}}}", "0".repeat(zeros), frac - 1 - zeros))
        .collect();
    branches.push(format!("0+\\.({})", small.join("|")));
    if zero {
        branches.push(format!("0+{}", fraction("0")));
    }
    format!("^({})$", branches.join("|"))
}

#[cfg(test)]
mod tests {
    use super::decimal_pattern;

    /// The whole expression for small ranges, where each branch can be read and checked by eye.
    #[test]
    fn decimal_patterns_state_the_range() {
        assert_eq!(
            decimal_pattern(2, 2, false),
            "^(0*[1-9][0-9]{0,1}(\\.[0-9]{1,2})?|0*100(\\.0{1,2})?|0+\\.([1-9][0-9]{0,1}|0[1-9][0-9]{0,0}))$"
        );
        assert_eq!(
            decimal_pattern(1, 1, true),
            "^(0*[1-9][0-9]{0,0}(\\.[0-9]{1,1})?|0*10(\\.0{1,1})?|0+\\.([1-9][0-9]{0,0})|0+(\\.0{1,1})?)$"
        );
    }
}
