//! A small JSON Schema validator for the subset `api-spec/openapi.yaml` uses in responses.
//!
//! Why not the `jsonschema` crate: it brings a regex engine, a reference resolver and dozens
//! of crates into a 2-core build for what is about a hundred lines here. (`pattern` uses
//! `regex-lite`, which actix-web already builds; the spec's patterns use only syntax that
//! means the same in ECMA-262 and there.)
//!
//! Assertions: `$ref` (local `#/…` only), `type` (a name or a list), `enum`, `const`,
//! `properties`, `required`, `additionalProperties` (bool or schema), `items`, `minItems`,
//! `maxItems`, `minimum`, `maximum`, `minLength`, `maxLength`, `pattern` (unanchored, as in
//! JSON Schema), `oneOf`, `anyOf`, `not`, and `format: date-time` (RFC 3339). Annotations are ignored (`description`, `title`,
//! `example(s)`, `default`, `deprecated`, `readOnly`, `writeOnly`, `x-…`, other formats).
//! Any other keyword is reported as an error rather than skipped, so the spec cannot grow a
//! constraint this validator would silently pass (add it here first).

use serde_json::Value;

const ANNOTATIONS: &[&str] =
    &["description", "title", "example", "examples", "default", "deprecated", "readOnly", "writeOnly"];

/// Validates `instance` against `schema`, resolving `$ref`s in `root`. Returns one message
/// per violation, each prefixed with the JSON pointer of the offending value.
pub fn validate(root: &Value, schema: &Value, instance: &Value) -> Vec<String> {
    let mut errors = Vec::new();
    check(root, schema, instance, "", &mut errors);
    errors
}

/// Resolves a local reference such as `#/components/schemas/Error`.
pub fn resolve<'a>(root: &'a Value, reference: &str) -> Option<&'a Value> {
    root.pointer(reference.strip_prefix('#')?)
}

fn check(root: &Value, schema: &Value, instance: &Value, at: &str, errors: &mut Vec<String>) {
    let Some(keywords) = schema.as_object() else {
        match schema {
            Value::Bool(true) => {}
            Value::Bool(false) => errors.push(format!("{at}: no value is allowed here")),
            other => errors.push(format!("{at}: schema is not an object: {other}")),
        }
        return;
    };
    for (keyword, value) in keywords {
        match keyword.as_str() {
            "$ref" => match value.as_str().and_then(|r| resolve(root, r)) {
                Some(target) => check(root, target, instance, at, errors),
                None => errors.push(format!("{at}: unresolvable $ref {value}")),
            },
            "type" => check_type(value, instance, at, errors),
            "enum" => {
                if !value.as_array().is_some_and(|options| options.contains(instance)) {
                    errors.push(format!("{at}: {instance} is not one of {value}"));
                }
            }
            "const" => {
                if value != instance {
                    errors.push(format!("{at}: {instance} is not {value}"));
                }
            }
            "properties" | "required" | "additionalProperties" => {
                if let Some(object) = instance.as_object() {
                    check_object(root, keyword, value, keywords, object, at, errors);
                }
            }
            "items" => {
                for (i, item) in instance.as_array().into_iter().flatten().enumerate() {
                    check(root, value, item, &format!("{at}/{i}"), errors);
                }
            }
            "minItems" | "maxItems" => {
                if let Some(items) = instance.as_array() {
                    bound(keyword, value, items.len() as f64, at, errors);
                }
            }
            "minLength" | "maxLength" => {
                if let Some(text) = instance.as_str() {
                    bound(keyword, value, text.chars().count() as f64, at, errors);
                }
            }
            "minimum" | "maximum" => {
                if let Some(n) = instance.as_number().and_then(|n| n.as_str().parse::<f64>().ok()) {
                    bound(keyword, value, n, at, errors);
                }
            }
            "pattern" => {
                if let Some(text) = instance.as_str() {
                    match value.as_str().map(regex_lite::Regex::new) {
                        Some(Ok(pattern)) if pattern.is_match(text) => {}
                        Some(Ok(_)) => errors.push(format!("{at}: {text:?} does not match the pattern {value}")),
                        _ => errors.push(format!("{at}: the pattern {value} is not a valid regular expression")),
                    }
                }
            }
            "oneOf" | "anyOf" => {
                let options = value.as_array().map(Vec::as_slice).unwrap_or_default();
                let matching = options.iter().filter(|o| validate_in(root, o, instance)).count();
                let ok = if keyword == "oneOf" { matching == 1 } else { matching >= 1 };
                if !ok {
                    errors.push(format!("{at}: {instance} matches {matching} of the {keyword} options"));
                }
            }
            "not" => {
                if validate_in(root, value, instance) {
                    errors.push(format!("{at}: {instance} matches a schema it must not match"));
                }
            }
            "format" => check_format(value, instance, at, errors),
            _ if ANNOTATIONS.contains(&keyword.as_str()) || keyword.starts_with("x-") => {}
            other => errors.push(format!("{at}: the validator does not support the keyword {other:?}")),
        }
    }
}

fn validate_in(root: &Value, schema: &Value, instance: &Value) -> bool {
    let mut errors = Vec::new();
    check(root, schema, instance, "", &mut errors);
    errors.is_empty()
}

fn check_type(expected: &Value, instance: &Value, at: &str, errors: &mut Vec<String>) {
    let names: Vec<&str> = match expected {
        Value::String(name) => vec![name.as_str()],
        Value::Array(names) => names.iter().filter_map(Value::as_str).collect(),
        _ => vec![],
    };
    let is = |name: &str| match name {
        "null" => instance.is_null(),
        "boolean" => instance.is_boolean(),
        "object" => instance.is_object(),
        "array" => instance.is_array(),
        "string" => instance.is_string(),
        "number" => instance.is_number(),
        "integer" => instance.is_i64() || instance.is_u64(),
        _ => false,
    };
    if !names.iter().any(|name| is(name)) {
        errors.push(format!("{at}: {instance} is not of type {expected}"));
    }
}

#[allow(clippy::too_many_arguments)]
fn check_object(
    root: &Value,
    keyword: &str,
    value: &Value,
    schema: &serde_json::Map<String, Value>,
    object: &serde_json::Map<String, Value>,
    at: &str,
    errors: &mut Vec<String>,
) {
    let properties = schema.get("properties").and_then(Value::as_object);
    match keyword {
        "properties" => {
            for (name, property) in properties.into_iter().flatten() {
                if let Some(field) = object.get(name) {
                    check(root, property, field, &format!("{at}/{name}"), errors);
                }
            }
        }
        "required" => {
            for name in value.as_array().into_iter().flatten().filter_map(Value::as_str) {
                if !object.contains_key(name) {
                    errors.push(format!("{at}: the required property {name:?} is missing"));
                }
            }
        }
        _ => {
            for (name, field) in object {
                if properties.is_some_and(|p| p.contains_key(name)) {
                    continue;
                }
                match value {
                    Value::Bool(false) => errors.push(format!("{at}: the property {name:?} is not documented")),
                    Value::Bool(true) => {}
                    extra => check(root, extra, field, &format!("{at}/{name}"), errors),
                }
            }
        }
    }
}

fn bound(keyword: &str, limit: &Value, actual: f64, at: &str, errors: &mut Vec<String>) {
    let Some(limit) = limit.as_number().and_then(|n| n.as_str().parse::<f64>().ok()) else {
        errors.push(format!("{at}: {keyword} is not a number"));
        return;
    };
    let ok = if keyword.starts_with("min") { actual >= limit } else { actual <= limit };
    if !ok {
        errors.push(format!("{at}: {actual} breaks {keyword} {limit}"));
    }
}

fn check_format(format: &Value, instance: &Value, at: &str, errors: &mut Vec<String>) {
    if let (Some("date-time"), Some(text)) = (format.as_str(), instance.as_str()) {
        if chrono::DateTime::parse_from_rfc3339(text).is_err() {
            errors.push(format!("{at}: {text:?} is not an RFC 3339 date-time"));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn root() -> Value {
        json!({"components": {"schemas": {
            "Thing": {"type": "object", "required": ["id"], "additionalProperties": false, "properties": {
                "id": {"type": "string", "description": "an annotation"},
                "n": {"type": ["integer", "null"], "minimum": 0},
                "kind": {"enum": ["a", "b"]},
                "at": {"type": "string", "format": "date-time"},
                "tags": {"type": "array", "maxItems": 1, "items": {"type": "string"}},
                "code": {"type": "string", "pattern": "^-?[0-9]+(\\.[0-9]+)?$"}
            }}
        }}})
    }

    fn errors_of(instance: Value) -> Vec<String> {
        let root = root();
        validate(&root, &json!({"$ref": "#/components/schemas/Thing"}), &instance)
    }

    #[test]
    fn a_conforming_value_has_no_errors() {
        let ok =
            json!({"id": "x", "n": null, "kind": "a", "at": "2026-11-27T12:00:00Z", "tags": ["t"], "code": "-1.50"});
        assert_eq!(errors_of(ok), Vec::<String>::new());
    }

    #[test]
    fn each_violation_is_reported_with_its_pointer() {
        let cases = [
            (json!({}), "the required property \"id\" is missing"),
            (json!({"id": 1}), "/id: 1 is not of type"),
            (json!({"id": "x", "extra": 1}), "\"extra\" is not documented"),
            (json!({"id": "x", "n": -1}), "/n: -1 breaks minimum"),
            (json!({"id": "x", "n": 1.5}), "/n: 1.5 is not of type"),
            (json!({"id": "x", "kind": "c"}), "/kind: \"c\" is not one of"),
            (json!({"id": "x", "at": "yesterday"}), "/at: \"yesterday\" is not an RFC 3339"),
            (json!({"id": "x", "tags": ["a", "b"]}), "/tags: 2 breaks maxItems"),
            (json!({"id": "x", "tags": [1]}), "/tags/0: 1 is not of type"),
            (json!({"id": "x", "code": "1e5"}), "/code: \"1e5\" does not match the pattern"),
        ];
        for (instance, expected) in cases {
            let errors = errors_of(instance.clone());
            assert!(errors.iter().any(|e| e.contains(expected)), "{instance}: expected {expected:?} in {errors:?}");
        }
    }

    #[test]
    fn unsupported_keywords_are_errors_not_silently_passed() {
        let errors = validate(&json!({}), &json!({"type": "string", "propertyNames": {"enum": ["a"]}}), &json!("b"));
        assert_eq!(errors, vec![": the validator does not support the keyword \"propertyNames\"".to_owned()]);
    }

    #[test]
    fn the_spec_s_unicode_escapes_mean_what_they_mean_in_ecma_262() {
        let plain = json!({"type": "string", "pattern": "^[^\\u0000-\\u001F\\u007F-\\u009F]*$"});
        assert_eq!(validate(&json!({}), &plain, &json!("Acme, Inc. é")), Vec::<String>::new());
        assert_eq!(validate(&json!({}), &plain, &json!("a\u{0}b")).len(), 1);
        assert_eq!(validate(&json!({}), &plain, &json!("a\u{85}b")).len(), 1);
    }
}
