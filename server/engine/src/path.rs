//! Context paths and input templates.
//!
//! An instance's *context* is one JSON object:
//!
//! ```json
//! { "input": { ... }, "steps": { "<state>": <output>, ... }, "error": { ... } }
//! ```
//!
//! A [`Path`] names a value inside it with dot-separated segments (`input.buyer_id`,
//! `steps.credit.score`, `input.items.0.sku`); an optional `$.` prefix is accepted so the same
//! text works in templates. A segment made only of digits indexes an array.
//!
//! A *template* ([`render`]) is any JSON value in which strings starting with `$.` are replaced
//! by the value at that path (JSON `null` when the path is missing), `"$"` alone is the whole
//! context, and a leading `$$` escapes a literal `$`. Everything else is copied as is.
//!
//! A path has at most [`MAX_PATH_SEGMENTS`] segments (writing through a path builds a value as
//! deep as the path), and [`template_problems`] looks no deeper than [`MAX_NESTING`] levels.

use serde_json::{Map, Value};

use crate::limits::{MAX_NESTING, MAX_PATH_SEGMENTS};
use crate::words::shorten;

/// Why a path could not be parsed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Error {
    /// The path text was empty.
    #[error("the path is empty")]
    Empty,
    /// A segment (between dots) was empty or held a character other than `A-Z a-z 0-9 _ -`.
    #[error(
        "segment {index} of path '{path}' is invalid: segments are non-empty and use only letters, digits, '_' and '-'"
    )]
    BadSegment {
        /// The path text (its first 60 characters when it is longer).
        path: String,
        /// Zero-based index of the bad segment.
        index: usize,
    },
    /// More than [`MAX_PATH_SEGMENTS`] segments.
    #[error("the path has {segments} segments; at most {limit} are allowed")]
    TooLong {
        /// How many segments it has.
        segments: usize,
        /// The limit.
        limit: usize,
    },
}

/// Result type of this module.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// A parsed context path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Path {
    segments: Vec<String>,
}

impl Path {
    /// Parses `a.b.c` or `$.a.b.c`.
    ///
    /// # Errors
    /// [`Error::Empty`], [`Error::BadSegment`] or [`Error::TooLong`].
    pub fn parse(text: &str) -> Result<Path> {
        let body = text.strip_prefix("$.").unwrap_or(text);
        if body.is_empty() {
            return Err(Error::Empty);
        }
        let mut segments = Vec::new();
        for (index, seg) in body.split('.').enumerate() {
            let ok = !seg.is_empty() && seg.chars().all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
            if !ok {
                return Err(Error::BadSegment { path: shorten(text, 60), index });
            }
            segments.push(seg.to_string());
        }
        if segments.len() > MAX_PATH_SEGMENTS {
            return Err(Error::TooLong { segments: segments.len(), limit: MAX_PATH_SEGMENTS });
        }
        Ok(Path { segments })
    }

    /// A path from already-checked segments (used for defaults such as `steps.<state>`).
    pub(crate) fn from_segments(segments: Vec<String>) -> Path {
        Path { segments }
    }

    /// The segments, outermost first.
    pub fn segments(&self) -> &[String] {
        &self.segments
    }

    /// The value at this path, or `None` when any segment is missing.
    pub fn get<'a>(&self, root: &'a Value) -> Option<&'a Value> {
        let mut cur = root;
        for seg in &self.segments {
            cur = match cur {
                Value::Object(map) => map.get(seg)?,
                Value::Array(items) => items.get(seg.parse::<usize>().ok()?)?,
                _ => return None,
            };
        }
        Some(cur)
    }

    /// Stores `value` at this path, creating objects on the way. An intermediate value that is
    /// not an object is replaced by one: results must always land, and a path that points
    /// through a scalar can only be a leftover from an earlier write to the same place.
    pub fn set(&self, root: &mut Value, value: Value) {
        let mut cur = root;
        for seg in &self.segments {
            if !cur.is_object() {
                *cur = Value::Object(Map::new());
            }
            let Value::Object(map) = cur else { return };
            cur = map.entry(seg.clone()).or_insert(Value::Null);
        }
        *cur = value;
    }
}

impl std::fmt::Display for Path {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.segments.join("."))
    }
}

/// Renders a template against a context (see the module docs for the rules).
///
/// A path that does not parse renders as `null`; [`template_problems`] reports such paths when
/// a definition is validated, so this only matters for unvalidated definitions.
pub fn render(template: &Value, ctx: &Value) -> Value {
    match template {
        Value::String(s) => {
            if s == "$" {
                ctx.clone()
            } else if let Some(rest) = s.strip_prefix("$$") {
                Value::String(format!("${rest}"))
            } else if s.starts_with("$.") {
                Path::parse(s).ok().and_then(|p| p.get(ctx).cloned()).unwrap_or(Value::Null)
            } else {
                template.clone()
            }
        }
        Value::Array(items) => Value::Array(items.iter().map(|v| render(v, ctx)).collect()),
        Value::Object(map) => Value::Object(map.iter().map(|(k, v)| (k.clone(), render(v, ctx))).collect()),
        other => other.clone(),
    }
}

/// Every problem of a template, as (location in the template, message) pairs: `$.` strings that
/// are not valid paths, and arrays or objects nested more than [`MAX_NESTING`] levels deep (the
/// walk does not go deeper). The location is a dotted path inside the template (`input.buyer`).
pub fn template_problems(template: &Value) -> Vec<(String, String)> {
    fn walk(v: &Value, at: &str, depth: usize, out: &mut Vec<(String, String)>) {
        match v {
            Value::String(s) if s.starts_with("$.") => {
                if let Err(e) = Path::parse(s) {
                    out.push((at.to_string(), e.to_string()));
                }
            }
            Value::Array(_) | Value::Object(_) if depth >= MAX_NESTING => {
                out.push((at.to_string(), format!("nested more than {MAX_NESTING} levels deep")));
            }
            Value::Array(items) => {
                for (i, item) in items.iter().enumerate() {
                    walk(item, &join(at, &i.to_string()), depth + 1, out);
                }
            }
            Value::Object(map) => {
                for (k, item) in map {
                    walk(item, &join(at, k), depth + 1, out);
                }
            }
            _ => {}
        }
    }
    let mut out = Vec::new();
    walk(template, "", 0, &mut out);
    out
}

fn join(a: &str, b: &str) -> String {
    if a.is_empty() {
        b.to_string()
    } else {
        format!("{a}.{b}")
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn parse_get_set() {
        let p = Path::parse("$.steps.credit.score").unwrap();
        assert_eq!(p.to_string(), "steps.credit.score");
        let mut ctx = json!({"input": {"items": [{"sku": "a"}]}});
        assert_eq!(Path::parse("input.items.0.sku").unwrap().get(&ctx), Some(&json!("a")));
        assert_eq!(Path::parse("input.nope").unwrap().get(&ctx), None);
        p.set(&mut ctx, json!(7));
        assert_eq!(ctx["steps"]["credit"]["score"], json!(7));
        // Writing through a scalar replaces it.
        Path::parse("steps.credit.score.x").unwrap().set(&mut ctx, json!(1));
        assert_eq!(ctx["steps"]["credit"]["score"], json!({"x": 1}));
    }

    #[test]
    fn bad_paths() {
        assert_eq!(Path::parse(""), Err(Error::Empty));
        assert_eq!(Path::parse("$."), Err(Error::Empty));
        assert!(matches!(Path::parse("a..b"), Err(Error::BadSegment { index: 1, .. })));
        assert!(Path::parse("a.b c").is_err());
        let long = vec!["a"; MAX_PATH_SEGMENTS + 1].join(".");
        assert_eq!(
            Path::parse(&long),
            Err(Error::TooLong { segments: MAX_PATH_SEGMENTS + 1, limit: MAX_PATH_SEGMENTS })
        );
        assert!(Path::parse(&vec!["a"; MAX_PATH_SEGMENTS].join(".")).is_ok());
        let Err(Error::BadSegment { path, .. }) = Path::parse(&format!("{}..", "x".repeat(10_000))) else { panic!() };
        assert!(path.chars().count() <= 61, "{path}");
    }

    #[test]
    fn render_template() {
        let ctx = json!({"input": {"buyer_id": "b1"}, "steps": {"verify": {"score": 0.9}}});
        let t = json!({"buyer": "$.input.buyer_id", "score": "$.steps.verify.score",
                       "missing": "$.input.nope", "lit": "hello", "money": "$$5", "n": [1, "$.input.buyer_id"]});
        assert_eq!(
            render(&t, &ctx),
            json!({"buyer": "b1", "score": 0.9, "missing": null, "lit": "hello", "money": "$5", "n": [1, "b1"]})
        );
        assert_eq!(render(&json!("$"), &ctx), ctx);
        let problems = template_problems(&json!({"a": {"b": "$.x..y"}, "c": ["$.ok", "$.b d"]}));
        let at: Vec<_> = problems.iter().map(|(a, _)| a.as_str()).collect();
        assert_eq!(at, vec!["a.b", "c.1"]);

        let mut deep = json!("$.x..y");
        for _ in 0..100 {
            deep = json!([deep]);
        }
        let problems = template_problems(&deep);
        assert_eq!(problems.len(), 1, "{problems:?}");
        assert_eq!(problems[0].0.split('.').count(), MAX_NESTING);
        assert!(problems[0].1.contains("nested more than 32 levels deep"));
    }
}
