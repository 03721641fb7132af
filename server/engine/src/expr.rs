//! The condition language of `choice` states.
//!
//! A hand-written tokenizer and recursive-descent parser produce an [`Expr`]; [`Expr::eval`]
//! evaluates it over an instance context and always yields a `bool` (evaluation cannot fail).
//!
//! Parsing and evaluation recurse once per level of nesting, so the parser refuses a condition
//! nested more than [`MAX_NESTING`] levels deep (an open parenthesis or a `not` is a level) with
//! [`Error::TooDeep`], and `and`/`or` chains are kept flat ([`Expr::And`] holds every operand of
//! `a and b and c`): the depth of the tree, and so of every walk over it, is bounded by the
//! nesting of the text, whatever its length.
//!
//! # Grammar
//!
//! ```text
//! expr     := or
//! or       := and ( "or" and )*
//! and      := unary ( "and" unary )*
//! unary    := "not" unary | compare
//! compare  := operand ( cmp_op operand | "in" list )?
//! cmp_op   := "==" | "!=" | "<" | "<=" | ">" | ">="
//! operand  := literal | path | "exists" "(" path ")" | "(" expr ")"
//! list     := "[" ( literal ( "," literal )* )? "]"
//! literal  := number | string | "true" | "false" | "null"
//! number   := "-"? digits ( "." digits )? ( ("e"|"E") ("+"|"-")? digits )?
//! string   := "'" chars "'" | '"' chars '"'      (backslash escapes \' \" \\ \n \t)
//! path     := ( "$." )? segment ( "." segment )*  (segment: letters, digits, '_', '-')
//! ```
//!
//! Keywords (`and or not in exists true false null`) are reserved and cannot be used as the
//! first segment of a path.
//!
//! # Semantics
//!
//! * A path that does not resolve is *missing*. `==` and `!=` treat missing like `null`;
//!   `exists(p)` is true when `p` resolves to a value other than `null`.
//! * Numbers compare numerically (`1 == 1.0`). Values of different JSON types are never equal.
//! * `<`, `<=`, `>`, `>=` compare two numbers or two strings (by Unicode code points); with
//!   any other pair (including missing values) the comparison is **false**. Note that
//!   `not (a < b)` is then true.
//! * `x in [..]` is true when `x == item` for some item of the list.
//! * `and`, `or`, `not` and a bare operand used as a condition treat only the boolean `true`
//!   as true; every other value (including missing, `1` or `"yes"`) counts as false.
//!
//! ```
//! use serde_json::json;
//! use switchboard_engine::expr::Expr;
//!
//! let e = Expr::parse("input.amount >= 100 and steps.credit.score > 0.7").unwrap();
//! assert!(e.eval(&json!({"input": {"amount": 150}, "steps": {"credit": {"score": 0.9}}})));
//! let err = Expr::parse("input.amount >= ").unwrap_err();
//! assert_eq!(err.position(), 16);
//! let deep = format!("{}a{}", "(".repeat(40), ")".repeat(40));
//! assert_eq!(Expr::parse(&deep).unwrap_err().to_string(),
//!            "nested more than 32 levels deep (parentheses and `not`), at position 32");
//! ```

use serde_json::Value;

use crate::limits::MAX_NESTING;
use crate::path::Path;
use crate::words::shorten;

/// Why a condition could not be parsed; every variant says where (a byte offset into the
/// condition, 0-based).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Error {
    /// A token the grammar does not allow there.
    #[error("at position {position}: expected {expected}, found {found}")]
    Syntax {
        /// Byte offset of the offending token.
        position: usize,
        /// What the parser wanted there, in words.
        expected: String,
        /// What it found, in words (`end of expression`, `'foo'`).
        found: String,
    },
    /// More than [`MAX_NESTING`] parentheses and `not`s open at once.
    #[error("nested more than {limit} levels deep (parentheses and `not`), at position {position}")]
    TooDeep {
        /// Byte offset of the first level past the limit.
        position: usize,
        /// The limit.
        limit: usize,
    },
}

impl Error {
    /// Byte offset of the problem.
    pub fn position(&self) -> usize {
        match self {
            Error::Syntax { position, .. } | Error::TooDeep { position, .. } => *position,
        }
    }
}

/// Result type of this module.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// A comparison operator.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CmpOp {
    /// `==`
    Eq,
    /// `!=`
    Ne,
    /// `<`
    Lt,
    /// `<=`
    Le,
    /// `>`
    Gt,
    /// `>=`
    Ge,
}

/// The syntax tree of a condition.
#[derive(Debug, Clone, PartialEq)]
pub enum Expr {
    /// A JSON literal.
    Literal(Value),
    /// A context path.
    Path(Path),
    /// `exists(path)`.
    Exists(Path),
    /// `not e`.
    Not(Box<Expr>),
    /// `a and b and ...`: every operand of one chain (at least two).
    And(Vec<Expr>),
    /// `a or b or ...`: every operand of one chain (at least two).
    Or(Vec<Expr>),
    /// `a <op> b`.
    Compare(CmpOp, Box<Expr>, Box<Expr>),
    /// `a in [literals]`.
    In(Box<Expr>, Vec<Value>),
}

impl Expr {
    /// Parses a condition.
    ///
    /// # Errors
    /// An [`Error`] naming the position and what was expected there.
    pub fn parse(text: &str) -> Result<Expr> {
        let tokens = tokenize(text)?;
        let mut p = Parser { tokens, pos: 0, end: text.len(), depth: 0 };
        let e = p.or()?;
        match p.peek() {
            None => Ok(e),
            Some(t) => Err(p.error_at(t, "'and', 'or' or the end of the expression")),
        }
    }

    /// Evaluates the condition over a context (see the module docs for the rules). Recurses once
    /// per level of the tree, which parsing bounds (see the module docs).
    pub fn eval(&self, ctx: &Value) -> bool {
        matches!(self.value(ctx), Some(Value::Bool(true)))
    }

    /// The value of a sub-expression; `None` means missing.
    fn value(&self, ctx: &Value) -> Option<Value> {
        match self {
            Expr::Literal(v) => Some(v.clone()),
            Expr::Path(p) => p.get(ctx).cloned(),
            Expr::Exists(p) => Some(Value::Bool(p.get(ctx).is_some_and(|v| !v.is_null()))),
            Expr::Not(e) => Some(Value::Bool(!e.eval(ctx))),
            Expr::And(all) => Some(Value::Bool(all.iter().all(|e| e.eval(ctx)))),
            Expr::Or(any) => Some(Value::Bool(any.iter().any(|e| e.eval(ctx)))),
            Expr::Compare(op, a, b) => Some(Value::Bool(compare(*op, a.value(ctx).as_ref(), b.value(ctx).as_ref()))),
            Expr::In(a, list) => {
                let v = a.value(ctx);
                Some(Value::Bool(list.iter().any(|item| equal(v.as_ref(), Some(item)))))
            }
        }
    }
}

fn equal(a: Option<&Value>, b: Option<&Value>) -> bool {
    let a = a.unwrap_or(&Value::Null);
    let b = b.unwrap_or(&Value::Null);
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => x.as_f64() == y.as_f64(),
        _ => a == b,
    }
}

fn compare(op: CmpOp, a: Option<&Value>, b: Option<&Value>) -> bool {
    use std::cmp::Ordering;
    match op {
        CmpOp::Eq => return equal(a, b),
        CmpOp::Ne => return !equal(a, b),
        _ => {}
    }
    let ord: Option<Ordering> = match (a, b) {
        (Some(Value::Number(x)), Some(Value::Number(y))) => {
            x.as_f64().and_then(|x| y.as_f64().and_then(|y| x.partial_cmp(&y)))
        }
        (Some(Value::String(x)), Some(Value::String(y))) => Some(x.cmp(y)),
        _ => None,
    };
    let Some(ord) = ord else { return false };
    match op {
        CmpOp::Lt => ord == Ordering::Less,
        CmpOp::Le => ord != Ordering::Greater,
        CmpOp::Gt => ord == Ordering::Greater,
        CmpOp::Ge => ord != Ordering::Less,
        CmpOp::Eq | CmpOp::Ne => false,
    }
}

#[derive(Debug, Clone, PartialEq)]
enum Tok {
    Word(String),
    Num(f64, String),
    Str(String),
    Op(&'static str),
}

#[derive(Debug, Clone)]
struct Token {
    tok: Tok,
    pos: usize,
}

const KEYWORDS: &[&str] = &["and", "or", "not", "in", "exists", "true", "false", "null"];

fn tokenize(text: &str) -> Result<Vec<Token>> {
    let chars: Vec<(usize, char)> = text.char_indices().collect();
    let mut out = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        let (pos, c) = chars[i];
        if c.is_whitespace() {
            i += 1;
            continue;
        }
        let two: String = chars[i..chars.len().min(i + 2)].iter().map(|(_, c)| c).collect();
        if let Some(op) = ["==", "!=", "<=", ">="].into_iter().find(|op| *op == two) {
            out.push(Token { tok: Tok::Op(op), pos });
            i += 2;
            continue;
        }
        if let Some(op) = ["<", ">", "(", ")", "[", "]", ","].into_iter().find(|op| op.starts_with(c)) {
            out.push(Token { tok: Tok::Op(op), pos });
            i += 1;
            continue;
        }
        let next_is_digit = chars.get(i + 1).is_some_and(|(_, d)| d.is_ascii_digit());
        if c.is_ascii_digit() || (c == '-' && next_is_digit) {
            let start = i;
            i += 1;
            while i < chars.len() {
                let d = chars[i].1;
                let prev = chars[i - 1].1;
                let sign_after_exp = (d == '+' || d == '-') && (prev == 'e' || prev == 'E');
                if d.is_ascii_digit() || d == '.' || d == 'e' || d == 'E' || sign_after_exp {
                    i += 1;
                } else {
                    break;
                }
            }
            let end = chars.get(i).map_or(text.len(), |(p, _)| *p);
            let raw = &text[pos..end];
            let n: f64 = raw.parse().map_err(|_| Error::Syntax {
                position: chars[start].0,
                expected: "a number".into(),
                found: format!("'{}'", shorten(raw, 40)),
            })?;
            out.push(Token { tok: Tok::Num(n, raw.to_string()), pos });
            continue;
        }
        if c == '\'' || c == '"' {
            let quote = c;
            let mut s = String::new();
            i += 1;
            let mut closed = false;
            while i < chars.len() {
                let d = chars[i].1;
                if d == '\\' {
                    let Some((_, e)) = chars.get(i + 1) else {
                        break;
                    };
                    s.push(match e {
                        'n' => '\n',
                        't' => '\t',
                        other => *other,
                    });
                    i += 2;
                } else if d == quote {
                    closed = true;
                    i += 1;
                    break;
                } else {
                    s.push(d);
                    i += 1;
                }
            }
            if !closed {
                return Err(Error::Syntax {
                    position: pos,
                    expected: format!("a closing {quote} for the string starting here"),
                    found: "end of expression".into(),
                });
            }
            out.push(Token { tok: Tok::Str(s), pos });
            continue;
        }
        if c.is_ascii_alphabetic() || c == '_' || c == '$' {
            let start = pos;
            while i < chars.len() {
                let d = chars[i].1;
                if d.is_ascii_alphanumeric() || d == '_' || d == '-' || d == '.' || d == '$' {
                    i += 1;
                } else {
                    break;
                }
            }
            let end = chars.get(i).map_or(text.len(), |(p, _)| *p);
            out.push(Token { tok: Tok::Word(text[start..end].to_string()), pos });
            continue;
        }
        return Err(Error::Syntax {
            position: pos,
            expected: "a path, a literal, an operator or a parenthesis".into(),
            found: format!("'{c}'"),
        });
    }
    Ok(out)
}

struct Parser {
    tokens: Vec<Token>,
    pos: usize,
    end: usize,
    /// Parentheses and `not`s open at the current token.
    depth: usize,
}

impl Parser {
    fn peek(&self) -> Option<&Token> {
        self.tokens.get(self.pos)
    }

    fn describe(t: &Token) -> String {
        match &t.tok {
            Tok::Word(w) => format!("'{}'", shorten(w, 40)),
            Tok::Num(_, raw) => format!("'{}'", shorten(raw, 40)),
            Tok::Str(s) => format!("the string '{}'", shorten(s, 40)),
            Tok::Op(o) => format!("'{o}'"),
        }
    }

    fn error_at(&self, t: &Token, expected: &str) -> Error {
        Error::Syntax { position: t.pos, expected: expected.into(), found: Self::describe(t) }
    }

    fn error_here(&self, expected: &str) -> Error {
        match self.peek() {
            Some(t) => self.error_at(t, expected),
            None => Error::Syntax { position: self.end, expected: expected.into(), found: "end of expression".into() },
        }
    }

    /// Opens one level of nesting at token `at` (refused past [`MAX_NESTING`]); every caller
    /// closes it with `self.depth -= 1` once the nested part is parsed.
    fn enter(&mut self, at: usize) -> Result<()> {
        if self.depth >= MAX_NESTING {
            return Err(Error::TooDeep { position: at, limit: MAX_NESTING });
        }
        self.depth += 1;
        Ok(())
    }

    fn eat_word(&mut self, w: &str) -> bool {
        if matches!(self.peek(), Some(Token { tok: Tok::Word(x), .. }) if x == w) {
            self.pos += 1;
            true
        } else {
            false
        }
    }

    fn eat_op(&mut self, op: &str) -> bool {
        if matches!(self.peek(), Some(Token { tok: Tok::Op(x), .. }) if *x == op) {
            self.pos += 1;
            true
        } else {
            false
        }
    }

    fn expect_op(&mut self, op: &str) -> Result<()> {
        if self.eat_op(op) {
            Ok(())
        } else {
            Err(self.error_here(&format!("'{op}'")))
        }
    }

    fn or(&mut self) -> Result<Expr> {
        let mut all = vec![self.and()?];
        while self.eat_word("or") {
            all.push(self.and()?);
        }
        Ok(if all.len() == 1 { all.remove(0) } else { Expr::Or(all) })
    }

    fn and(&mut self) -> Result<Expr> {
        let mut all = vec![self.unary()?];
        while self.eat_word("and") {
            all.push(self.unary()?);
        }
        Ok(if all.len() == 1 { all.remove(0) } else { Expr::And(all) })
    }

    fn unary(&mut self) -> Result<Expr> {
        let at = self.peek().map_or(self.end, |t| t.pos);
        if self.eat_word("not") {
            self.enter(at)?;
            let inner = self.unary()?;
            self.depth -= 1;
            return Ok(Expr::Not(Box::new(inner)));
        }
        self.compare()
    }

    fn compare(&mut self) -> Result<Expr> {
        let left = self.operand()?;
        let op = match self.peek() {
            Some(Token { tok: Tok::Op(o), .. }) => match *o {
                "==" => Some(CmpOp::Eq),
                "!=" => Some(CmpOp::Ne),
                "<" => Some(CmpOp::Lt),
                "<=" => Some(CmpOp::Le),
                ">" => Some(CmpOp::Gt),
                ">=" => Some(CmpOp::Ge),
                _ => None,
            },
            _ => None,
        };
        if let Some(op) = op {
            self.pos += 1;
            let right = self.operand()?;
            return Ok(Expr::Compare(op, Box::new(left), Box::new(right)));
        }
        if self.eat_word("in") {
            self.expect_op("[")?;
            let mut items = Vec::new();
            if !self.eat_op("]") {
                loop {
                    items.push(self.literal()?);
                    if self.eat_op("]") {
                        break;
                    }
                    self.expect_op(",")?;
                }
            }
            return Ok(Expr::In(Box::new(left), items));
        }
        Ok(left)
    }

    fn literal(&mut self) -> Result<Value> {
        let Some(t) = self.peek().cloned() else {
            return Err(self.error_here("a literal (number, string, true, false or null)"));
        };
        let v = match &t.tok {
            Tok::Num(n, raw) => number_value(*n, raw),
            Tok::Str(s) => Value::String(s.clone()),
            Tok::Word(w) if w == "true" => Value::Bool(true),
            Tok::Word(w) if w == "false" => Value::Bool(false),
            Tok::Word(w) if w == "null" => Value::Null,
            _ => return Err(self.error_at(&t, "a literal (number, string, true, false or null)")),
        };
        self.pos += 1;
        Ok(v)
    }

    fn path(&mut self) -> Result<Path> {
        let Some(t) = self.peek().cloned() else {
            return Err(self.error_here("a field path"));
        };
        match &t.tok {
            Tok::Word(w) if !KEYWORDS.contains(&w.as_str()) => {
                let p = Path::parse(w).map_err(|e| Error::Syntax {
                    position: t.pos,
                    expected: "a valid field path".into(),
                    found: format!("'{}' ({e})", shorten(w, 40)),
                })?;
                self.pos += 1;
                Ok(p)
            }
            _ => Err(self.error_at(&t, "a field path")),
        }
    }

    fn operand(&mut self) -> Result<Expr> {
        const WANT: &str = "a field path, a literal, 'not', 'exists(' or '('";
        let Some(t) = self.peek().cloned() else {
            return Err(self.error_here(WANT));
        };
        match &t.tok {
            Tok::Op("(") => {
                self.enter(t.pos)?;
                self.pos += 1;
                let e = self.or()?;
                self.expect_op(")")?;
                self.depth -= 1;
                Ok(e)
            }
            Tok::Word(w) if w == "exists" => {
                self.pos += 1;
                self.expect_op("(")?;
                let p = self.path()?;
                self.expect_op(")")?;
                Ok(Expr::Exists(p))
            }
            Tok::Word(w) if KEYWORDS.contains(&w.as_str()) && !matches!(w.as_str(), "true" | "false" | "null") => {
                Err(self.error_at(&t, WANT))
            }
            Tok::Word(w) if matches!(w.as_str(), "true" | "false" | "null") => Ok(Expr::Literal(self.literal()?)),
            Tok::Word(_) => Ok(Expr::Path(self.path()?)),
            Tok::Num(..) | Tok::Str(_) => Ok(Expr::Literal(self.literal()?)),
            Tok::Op(_) => Err(self.error_at(&t, WANT)),
        }
    }
}

/// Integers stay integers so `==` against JSON integers reads naturally in the AST.
fn number_value(n: f64, raw: &str) -> Value {
    if let Ok(i) = raw.parse::<i64>() {
        return Value::from(i);
    }
    serde_json::Number::from_f64(n).map_or(Value::Null, Value::Number)
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn ev(src: &str, ctx: &Value) -> bool {
        Expr::parse(src).unwrap_or_else(|e| panic!("{src}: {e}")).eval(ctx)
    }

    #[test]
    fn precedence_and_parentheses() {
        let ctx = json!({"a": 1, "b": 2});
        // and binds tighter than or
        assert!(ev("a == 1 or a == 5 and b == 9", &ctx));
        assert!(!ev("(a == 1 or a == 5) and b == 9", &ctx));
        assert!(ev("not a == 2", &ctx));
        assert!(ev("not not a == 1", &ctx));
    }

    #[test]
    fn literals_and_comparisons() {
        let ctx = json!({"input": {"amount": 100, "name": "bob", "flag": true, "n": null, "r": 0.5}});
        assert!(ev("input.amount == 100.0", &ctx));
        assert!(ev("input.amount >= 100 and input.amount <= 100", &ctx));
        assert!(ev("input.amount > -1e3", &ctx));
        assert!(ev("input.name == 'bob' and input.name != \"alice\"", &ctx));
        assert!(ev("input.name < 'carl'", &ctx));
        assert!(ev("input.flag", &ctx));
        assert!(ev("input.flag == true", &ctx));
        assert!(ev("input.r < 1", &ctx));
        assert!(ev("'it\\'s' == 'it\\'s'", &ctx));
        assert!(ev("$.input.amount == 100", &ctx));
    }

    #[test]
    fn missing_and_mismatched_types() {
        let ctx = json!({"input": {"amount": 100, "name": "bob", "n": null}});
        assert!(ev("input.nope == null", &ctx));
        assert!(!ev("input.nope != null", &ctx));
        assert!(!ev("input.nope < 5", &ctx));
        assert!(!ev("input.nope >= 5", &ctx));
        assert!(ev("not (input.nope < 5)", &ctx));
        assert!(!ev("input.name > 5", &ctx));
        assert!(!ev("input.amount == '100'", &ctx));
        assert!(ev("input.amount != '100'", &ctx));
        assert!(!ev("input.name", &ctx)); // a non-boolean value is not true
        assert!(!ev("input.nope", &ctx));
    }

    #[test]
    fn exists_and_in() {
        let ctx = json!({"input": {"tier": "gold", "n": null, "x": 2}});
        assert!(ev("exists(input.tier)", &ctx));
        assert!(!ev("exists(input.n)", &ctx));
        assert!(!ev("exists(input.zzz)", &ctx));
        assert!(ev("input.tier in ['gold', 'platinum']", &ctx));
        assert!(!ev("input.tier in []", &ctx));
        assert!(ev("input.x in [1, 2.0, 'x']", &ctx));
        assert!(ev("input.zzz in [null]", &ctx));
    }

    fn syntax(src: &str) -> (usize, String, String) {
        match Expr::parse(src) {
            Err(Error::Syntax { position, expected, found }) => (position, expected, found),
            other => panic!("{src}: expected a syntax error, got {other:?}"),
        }
    }

    #[test]
    fn parse_errors_name_position_and_expectation() {
        let (position, expected, found) = syntax("input.amount >= ");
        assert_eq!(position, 16);
        assert_eq!(found, "end of expression");
        assert!(expected.contains("field path"));

        let (position, expected, _) = syntax("a == 1 b");
        assert_eq!(position, 7);
        assert!(expected.contains("'and', 'or'"));

        let (position, expected, _) = syntax("(a == 1");
        assert_eq!((position, expected.as_str()), (7, "')'"));

        assert_eq!(syntax("a == 'open").0, 5);

        let (position, _, found) = syntax("a # 1");
        assert_eq!((position, found.as_str()), (2, "'#'"));

        assert_eq!(syntax("a in [1, b]").0, 9);
        assert_eq!(syntax("and == 1").0, 0);
        assert_eq!(syntax("exists(1)").0, 7);
        assert!(syntax("a..b == 1").2.contains("a..b"));

        assert!(Expr::parse("").is_err());
        assert!(Expr::parse("1.2.3 == 1").is_err());
    }

    #[test]
    fn chains_are_flat_and_nesting_is_bounded() {
        let e = Expr::parse("a and b and c or d").unwrap();
        let Expr::Or(any) = &e else { panic!("{e:?}") };
        assert_eq!(any.len(), 2);
        assert!(matches!(&any[0], Expr::And(all) if all.len() == 3));

        // A long chain is one node with many operands: evaluation does not recurse per operand.
        let chain = vec!["x == 1"; 5_000].join(" and ");
        let e = Expr::parse(&chain).unwrap();
        assert!(matches!(&e, Expr::And(all) if all.len() == 5_000));
        assert!(e.eval(&json!({"x": 1})));

        let ok = format!("{}a{}", "(".repeat(MAX_NESTING), ")".repeat(MAX_NESTING));
        assert!(Expr::parse(&ok).is_ok(), "{MAX_NESTING} levels are allowed");
        let nots = format!("{}true", "not ".repeat(MAX_NESTING));
        assert!(Expr::parse(&nots).unwrap().eval(&json!({})));
        let mixed = format!("{}a{}", "not (".repeat(MAX_NESTING / 2 + 1), ")".repeat(MAX_NESTING / 2 + 1));
        assert!(matches!(Expr::parse(&mixed), Err(Error::TooDeep { limit: MAX_NESTING, .. })));
        let deep = format!("{}a{}", "(".repeat(MAX_NESTING + 1), ")".repeat(MAX_NESTING + 1));
        assert_eq!(Expr::parse(&deep), Err(Error::TooDeep { position: MAX_NESTING, limit: MAX_NESTING }));
    }

    #[test]
    fn long_tokens_are_shortened_in_messages() {
        let word = "w".repeat(10_000);
        let e = Expr::parse(&format!("a == 1 {word}")).unwrap_err().to_string();
        assert!(e.len() < 200, "{e}");
        assert!(e.contains("…"), "{e}");
    }

    #[test]
    fn display_of_error() {
        let e = Expr::parse("a ==").unwrap_err();
        assert_eq!(
            e.to_string(),
            "at position 4: expected a field path, a literal, 'not', 'exists(' or '(', found end of expression"
        );
    }
}
