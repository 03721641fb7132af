//! The input-schema subset and [`validate_input`].
//!
//! A definition's `input_schema` is a small subset of JSON Schema, checked by hand so the
//! engine needs no schema crate:
//!
//! | keyword | applies to | meaning |
//! | --- | --- | --- |
//! | `type` | any | one of `object`, `array`, `string`, `integer`, `number`, `boolean` |
//! | `properties` | object | map of field name → schema |
//! | `required` | object | field names that must be present (and not `null`) |
//! | `items` | array | schema every element must satisfy |
//! | `enum` | any | the value must equal one of these JSON values |
//! | `minimum` / `maximum` | integer, number | inclusive bounds |
//! | `minLength` / `maxLength` | string | bounds on the number of characters |
//! | `title` / `description` | any | documentation only |
//!
//! Any other keyword is rejected when the definition is parsed, so a schema never silently
//! means less than its author thinks. Fields not listed in `properties` are allowed.
//! `integer` accepts JSON numbers without a fractional part (`3` and `3.0`).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::limits::MAX_NESTING;

/// A JSON type name of the subset.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SchemaType {
    /// A JSON object.
    Object,
    /// A JSON array.
    Array,
    /// A JSON string.
    String,
    /// A number without a fractional part.
    Integer,
    /// Any JSON number.
    Number,
    /// `true` or `false`.
    Boolean,
}

/// One schema node (see the module docs for the supported keywords).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct Schema {
    /// Required JSON type, if any.
    #[serde(rename = "type", default, skip_serializing_if = "Option::is_none")]
    pub kind: Option<SchemaType>,
    /// Schemas of named object fields.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub properties: BTreeMap<String, Schema>,
    /// Fields that must be present and not null.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub required: Vec<String>,
    /// Schema of every array element.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub items: Option<Box<Schema>>,
    /// Allowed values.
    #[serde(rename = "enum", default, skip_serializing_if = "Option::is_none")]
    pub allowed: Option<Vec<Value>>,
    /// Inclusive lower bound for numbers.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub minimum: Option<f64>,
    /// Inclusive upper bound for numbers.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub maximum: Option<f64>,
    /// Minimum string length in characters.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min_length: Option<usize>,
    /// Maximum string length in characters.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_length: Option<usize>,
    /// Documentation only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub title: Option<String>,
    /// Documentation only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
}

/// One problem with a workflow input: which field (a context path such as `input.buyer.email`
/// or `input.items.2`) and what is wrong with it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FieldProblem {
    /// Context path of the field (`input` for the whole input).
    pub field: String,
    /// What is wrong, in words.
    pub problem: String,
}

impl std::fmt::Display for FieldProblem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.field, self.problem)
    }
}

/// Checks a workflow input against a definition's schema; lists every problem found.
///
/// A definition without `input_schema` accepts any input.
///
/// # Errors
/// Every [`FieldProblem`] found, in document order.
pub fn validate_input(def: &crate::definition::Definition, input: &Value) -> Result<(), Vec<FieldProblem>> {
    match &def.input_schema {
        None => Ok(()),
        Some(schema) => {
            let mut out = Vec::new();
            check_value(schema, input, "input", &mut out);
            if out.is_empty() {
                Ok(())
            } else {
                Err(out)
            }
        }
    }
}

fn type_name(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

fn has_type(kind: SchemaType, v: &Value) -> bool {
    match kind {
        SchemaType::Object => v.is_object(),
        SchemaType::Array => v.is_array(),
        SchemaType::String => v.is_string(),
        SchemaType::Boolean => v.is_boolean(),
        SchemaType::Number => v.is_number(),
        SchemaType::Integer => v.as_f64().is_some_and(|f| f.fract() == 0.0),
    }
}

fn check_value(s: &Schema, v: &Value, at: &str, out: &mut Vec<FieldProblem>) {
    let mut push = |problem: String| out.push(FieldProblem { field: at.to_string(), problem });
    if let Some(kind) = s.kind {
        if !has_type(kind, v) {
            let want = serde_json::to_value(kind).ok().and_then(|k| k.as_str().map(str::to_string)).unwrap_or_default();
            push(format!("must be of type {want}, got {}", type_name(v)));
            return;
        }
    }
    if let Some(allowed) = &s.allowed {
        if !allowed.contains(v) {
            let list: Vec<String> = allowed.iter().map(Value::to_string).collect();
            push(format!("must be one of {}", list.join(", ")));
        }
    }
    if let Some(n) = v.as_f64() {
        if let Some(min) = s.minimum {
            if n < min {
                push(format!("must be at least {min}, got {n}"));
            }
        }
        if let Some(max) = s.maximum {
            if n > max {
                push(format!("must be at most {max}, got {n}"));
            }
        }
    }
    if let Some(text) = v.as_str() {
        let len = text.chars().count();
        if let Some(min) = s.min_length {
            if len < min {
                push(format!("must be at least {min} characters long, got {len}"));
            }
        }
        if let Some(max) = s.max_length {
            if len > max {
                push(format!("must be at most {max} characters long, got {len}"));
            }
        }
    }
    if let Value::Object(map) = v {
        for name in &s.required {
            if map.get(name).is_none_or(Value::is_null) {
                out.push(FieldProblem { field: format!("{at}.{name}"), problem: "is required".into() });
            }
        }
        for (name, sub) in &s.properties {
            if let Some(child) = map.get(name).filter(|c| !c.is_null()) {
                check_value(sub, child, &format!("{at}.{name}"), out);
            }
        }
    }
    if let (Value::Array(items), Some(item_schema)) = (v, &s.items) {
        for (i, item) in items.iter().enumerate() {
            check_value(item_schema, item, &format!("{at}.{i}"), out);
        }
    }
}

/// Problems with a schema itself (keywords that can never be satisfied or do not fit the
/// type, schemas nested more than [`MAX_NESTING`] levels deep), as (location, problem) pairs.
/// Used by definition validation; the walk goes no deeper than the limit.
pub fn schema_problems(s: &Schema) -> Vec<(String, String)> {
    fn walk(s: &Schema, at: &str, depth: usize, out: &mut Vec<(String, String)>) {
        if depth >= MAX_NESTING {
            out.push((at.to_string(), format!("nested more than {MAX_NESTING} levels deep")));
            return;
        }
        let mut push = |m: &str| out.push((at.to_string(), m.to_string()));
        if let (Some(min), Some(max)) = (s.minimum, s.maximum) {
            if min > max {
                push("minimum is greater than maximum");
            }
        }
        if let (Some(min), Some(max)) = (s.min_length, s.max_length) {
            if min > max {
                push("minLength is greater than maxLength");
            }
        }
        if let Some(kind) = s.kind {
            let numeric = matches!(kind, SchemaType::Integer | SchemaType::Number);
            if !numeric && (s.minimum.is_some() || s.maximum.is_some()) {
                push("minimum/maximum only apply to integer and number");
            }
            if kind != SchemaType::String && (s.min_length.is_some() || s.max_length.is_some()) {
                push("minLength/maxLength only apply to string");
            }
            if kind != SchemaType::Object && (!s.properties.is_empty() || !s.required.is_empty()) {
                push("properties/required only apply to object");
            }
            if kind != SchemaType::Array && s.items.is_some() {
                push("items only applies to array");
            }
            if let Some(allowed) = &s.allowed {
                if allowed.iter().any(|v| !has_type(kind, v)) {
                    push("an enum value does not have the declared type");
                }
            }
        }
        if s.allowed.as_ref().is_some_and(Vec::is_empty) {
            push("enum is empty, so no value can match");
        }
        for (name, sub) in &s.properties {
            walk(sub, &format!("{at}.properties.{name}"), depth + 1, out);
        }
        if let Some(items) = &s.items {
            walk(items, &format!("{at}.items"), depth + 1, out);
        }
    }
    let mut out = Vec::new();
    walk(s, "input_schema", 0, &mut out);
    out
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn schema(v: Value) -> Schema {
        serde_json::from_value(v).unwrap()
    }

    fn problems(s: &Schema, v: Value) -> Vec<String> {
        let mut out = Vec::new();
        check_value(s, &v, "input", &mut out);
        out.into_iter().map(|p| p.to_string()).collect()
    }

    #[test]
    fn lists_every_problem_with_field_paths() {
        let s = schema(json!({
            "type": "object",
            "required": ["buyer_id", "amount", "tier"],
            "properties": {
                "buyer_id": {"type": "string", "minLength": 3},
                "amount": {"type": "number", "minimum": 0, "maximum": 1000},
                "count": {"type": "integer"},
                "tier": {"enum": ["gold", "silver"]},
                "tags": {"type": "array", "items": {"type": "string"}},
                "address": {"type": "object", "required": ["zip"], "properties": {"zip": {"type": "string"}}},
                "ok": {"type": "boolean"}
            }
        }));
        let got = problems(
            &s,
            json!({"buyer_id": "ab", "amount": 5000, "count": 1.5, "tier": "bronze",
                   "tags": ["a", 2], "address": {}, "ok": "yes"}),
        );
        assert_eq!(
            got,
            vec![
                "input.address.zip: is required",
                "input.amount: must be at most 1000, got 5000",
                "input.buyer_id: must be at least 3 characters long, got 2",
                "input.count: must be of type integer, got number",
                "input.ok: must be of type boolean, got string",
                "input.tags.1: must be of type string, got number",
                "input.tier: must be one of \"gold\", \"silver\"",
            ]
        );
        assert!(problems(&s, json!({"buyer_id": "abc", "amount": 0, "tier": "gold", "count": 3.0})).is_empty());
        assert_eq!(problems(&s, json!([])), vec!["input: must be of type object, got array"]);
        assert_eq!(
            problems(&s, json!({"buyer_id": null, "amount": 1, "tier": "gold"})),
            vec!["input.buyer_id: is required"]
        );
    }

    #[test]
    fn unknown_keywords_are_rejected() {
        let r: Result<Schema, _> = serde_json::from_value(json!({"type": "object", "pattern": "x"}));
        assert!(r.is_err());
    }

    #[test]
    fn schema_self_check() {
        let s = schema(json!({"type": "object", "properties": {
            "a": {"type": "string", "minimum": 1},
            "b": {"type": "integer", "minimum": 5, "maximum": 1},
            "c": {"enum": []},
            "d": {"type": "integer", "enum": ["x"]}
        }}));
        let p: Vec<String> = schema_problems(&s).into_iter().map(|(a, m)| format!("{a}: {m}")).collect();
        assert_eq!(
            p,
            vec![
                "input_schema.properties.a: minimum/maximum only apply to integer and number",
                "input_schema.properties.b: minimum is greater than maximum",
                "input_schema.properties.c: enum is empty, so no value can match",
                "input_schema.properties.d: an enum value does not have the declared type",
            ]
        );
    }
}
