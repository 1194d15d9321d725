//! JSON for the client: a strict reader that builds a tree borrowing from the input, typed
//! accessors to pick fields out of it, and (from `sandkit-json`, whose lexing the reader
//! shares) a small writer for request bodies and the listing fast path's reader.
//!
//! Why not serde: every `derive(Deserialize)` struct is a separate copy of a generic visitor
//! (2–4 KB of wasm each), and serde_json's writer brings I/O errors and float formatting along.
//! Here the parser exists once, and each message type is read by a few lines of plain calls
//! (`obj.string("sandboxID")?`) that keep the decoding rules of serde's derives: unknown fields
//! are ignored, a missing `Option` is `None`, `null` is accepted only where the field is an
//! `Option`, a known field given twice is an error, integers must fit their type.
//!
//! The reader accepts exactly RFC 8259 JSON: strict strings (escapes, surrogate pairs, UTF-8,
//! no control characters), strict numbers, no trailing commas or characters, nesting at most
//! [`MAX_DEPTH`] deep. Numbers are kept as their text; only integers are ever converted (the
//! APIs send no floats), so there is no float parsing or printing in the module.

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::fmt;

pub(crate) use sandkit_json::Cursor;
use sandkit_json::plain_run;
pub use sandkit_json::{Writer, decimal, quote, quote_into};

/// How deep arrays and objects may nest: a hostile body must not exhaust the stack.
pub const MAX_DEPTH: u32 = 128;

/// Why a body did not decode, and the byte offset where it happened. Boxed, so that the
/// `Result`s of the readers stay small (see [`crate::Error`]): a `Box<String>` is one word,
/// where a `String` or a `Box<str>` would be three or two.
#[derive(Debug, Clone, PartialEq, Eq)]
#[allow(clippy::box_collection)]
pub struct JsonError(Box<String>);

impl JsonError {
    fn at(message: impl Into<String>, offset: usize) -> Self {
        let mut message = message.into();
        message.push_str(" at byte ");
        message.push_str(&decimal(offset as u64));
        JsonError(Box::new(message))
    }

    /// An error about a decoded value that has no position (a field's contents).
    pub fn custom(message: impl Into<String>) -> Self {
        JsonError(Box::new(message.into()))
    }
}

impl fmt::Display for JsonError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for JsonError {}

pub type Result<T, E = JsonError> = std::result::Result<T, E>;

// ── the tree ─────────────────────────────────────────────────────────────────────────────

/// A JSON value, borrowing its strings from the input unless they had escapes.
#[derive(Debug, Clone, PartialEq)]
pub struct Value<'a> {
    /// Where the value starts in the input.
    at: usize,
    kind: Kind<'a>,
}

#[derive(Debug, Clone, PartialEq)]
enum Kind<'a> {
    Null,
    Bool(bool),
    /// The number's text, already checked against the grammar.
    Number(&'a [u8]),
    String(Cow<'a, str>),
    Array(Vec<Value<'a>>),
    Object(Vec<(Cow<'a, str>, Value<'a>)>),
}

/// Parses one JSON document.
pub fn parse(input: &[u8]) -> Result<Value<'_>> {
    let mut parser = Parser {
        c: Cursor { input, pos: 0 },
    };
    let value = parser.value(0)?;
    parser.c.skip_whitespace();
    if parser.c.pos != input.len() {
        return Err(parser.error("trailing characters"));
    }
    Ok(value)
}

struct Parser<'a> {
    c: Cursor<'a>,
}

impl<'a> Parser<'a> {
    fn error(&self, message: &str) -> JsonError {
        JsonError::at(message, self.c.pos)
    }

    /// The next significant byte, not consumed.
    fn peek(&mut self) -> Result<u8> {
        self.c.skip_whitespace();
        self.c
            .input
            .get(self.c.pos)
            .copied()
            .ok_or_else(|| self.error("unexpected end of input"))
    }

    /// Consumes `byte` if it is next.
    fn eat(&mut self, byte: u8) -> Result<bool> {
        let found = self.peek()? == byte;
        if found {
            self.c.pos += 1;
        }
        Ok(found)
    }

    fn literal(&mut self, word: &[u8]) -> Result<()> {
        if self.c.literal(word) {
            Ok(())
        } else {
            Err(self.error("expected a JSON value"))
        }
    }

    fn value(&mut self, depth: u32) -> Result<Value<'a>> {
        let first = self.peek()?;
        let at = self.c.pos;
        let kind = match first {
            b'n' => self.literal(b"null").map(|_| Kind::Null)?,
            b't' => self.literal(b"true").map(|_| Kind::Bool(true))?,
            b'f' => self.literal(b"false").map(|_| Kind::Bool(false))?,
            b'"' => Kind::String(self.string()?),
            b'-' | b'0'..=b'9' => Kind::Number(self.number()?),
            b'[' | b'{' => {
                if depth >= MAX_DEPTH {
                    return Err(self.error("nesting too deep"));
                }
                self.c.pos += 1;
                if first == b'[' {
                    self.array(depth + 1)?
                } else {
                    self.object(depth + 1)?
                }
            }
            _ => return Err(self.error("expected a JSON value")),
        };
        Ok(Value { at, kind })
    }

    /// The elements of an array whose `[` has been consumed.
    fn array(&mut self, depth: u32) -> Result<Kind<'a>> {
        let mut items = Vec::new();
        if !self.eat(b']')? {
            loop {
                items.push(self.value(depth)?);
                if self.eat(b']')? {
                    break;
                }
                if !self.eat(b',')? {
                    return Err(self.error("expected `,` or `]`"));
                }
            }
        }
        Ok(Kind::Array(items))
    }

    /// The members of an object whose `{` has been consumed.
    fn object(&mut self, depth: u32) -> Result<Kind<'a>> {
        let mut members = Vec::new();
        if !self.eat(b'}')? {
            loop {
                if self.peek()? != b'"' {
                    return Err(self.error("expected a string key"));
                }
                let key = self.string()?;
                if !self.eat(b':')? {
                    return Err(self.error("expected `:`"));
                }
                members.push((key, self.value(depth)?));
                if self.eat(b'}')? {
                    break;
                }
                if !self.eat(b',')? {
                    return Err(self.error("expected `,` or `}`"));
                }
            }
        }
        Ok(Kind::Object(members))
    }

    /// A string; borrowed from the input unless it has escapes. The opening quote is next.
    fn string(&mut self) -> Result<Cow<'a, str>> {
        self.c.pos += 1;
        let start = self.c.pos;
        let mut owned: Option<Vec<u8>> = None;
        let mut run_start = start;
        loop {
            let Some(&b) = self.c.input.get(self.c.pos) else {
                return Err(self.error("unterminated string"));
            };
            match b {
                b'"' => break,
                b'\\' => {
                    let buf = owned.get_or_insert_with(Vec::new);
                    buf.extend_from_slice(&self.c.input[run_start..self.c.pos]);
                    self.c.pos += 1;
                    let escaped = self.escape()?;
                    let mut utf8 = [0; 4];
                    buf.extend_from_slice(escaped.encode_utf8(&mut utf8).as_bytes());
                    run_start = self.c.pos;
                }
                0..=0x1f => return Err(self.error("control character in string")),
                _ => self.c.pos += plain_run(&self.c.input[self.c.pos..]),
            }
        }
        let tail = &self.c.input[run_start..self.c.pos];
        self.c.pos += 1;
        let text = match owned {
            None => std::str::from_utf8(tail).ok().map(Cow::Borrowed),
            Some(mut buf) => {
                buf.extend_from_slice(tail);
                String::from_utf8(buf).ok().map(Cow::Owned)
            }
        };
        text.ok_or_else(|| JsonError::at("string is not UTF-8", start))
    }

    /// The character of an escape; the backslash has been consumed.
    fn escape(&mut self) -> Result<char> {
        let Some(&b) = self.c.input.get(self.c.pos) else {
            return Err(self.error("unterminated string"));
        };
        self.c.pos += 1;
        Ok(match b {
            b'"' => '"',
            b'\\' => '\\',
            b'/' => '/',
            b'b' => '\u{8}',
            b'f' => '\u{c}',
            b'n' => '\n',
            b'r' => '\r',
            b't' => '\t',
            b'u' => {
                let first = self.hex4()?;
                let code = match first {
                    0xD800..=0xDBFF => {
                        if !self.c.input[self.c.pos..].starts_with(b"\\u") {
                            return Err(self.error("lone surrogate in \\u escape"));
                        }
                        self.c.pos += 2;
                        let second = self.hex4()?;
                        if !(0xDC00..=0xDFFF).contains(&second) {
                            return Err(self.error("lone surrogate in \\u escape"));
                        }
                        0x10000 + ((first - 0xD800) << 10) + (second - 0xDC00)
                    }
                    0xDC00..=0xDFFF => return Err(self.error("lone surrogate in \\u escape")),
                    _ => first,
                };
                char::from_u32(code).ok_or_else(|| self.error("invalid \\u escape"))?
            }
            _ => return Err(self.error("invalid escape")),
        })
    }

    fn hex4(&mut self) -> Result<u32> {
        let mut code = 0;
        for _ in 0..4 {
            let digit = self
                .c
                .input
                .get(self.c.pos)
                .and_then(|&d| (d as char).to_digit(16))
                .ok_or_else(|| self.error("invalid \\u escape"))?;
            code = code * 16 + digit;
            self.c.pos += 1;
        }
        Ok(code)
    }

    /// A number's text, checked against the grammar.
    fn number(&mut self) -> Result<&'a [u8]> {
        let start = self.c.pos;
        self.c
            .number()
            .ok_or_else(|| JsonError::at("invalid number", start))
    }
}

/// Where the value at `pos` in `input` ends, read and checked as [`parse`] reads it at
/// `depth`: how the listing's fast path (`sandkit_json::listing`) skips what it does not read.
pub(crate) fn value_end(input: &[u8], pos: usize, depth: u32) -> Option<usize> {
    let mut parser = Parser {
        c: Cursor { input, pos },
    };
    parser.value(depth).ok().map(|_| parser.c.pos)
}

// ── reading values ───────────────────────────────────────────────────────────────────────

/// The members of an object, looked up by name.
#[derive(Debug, Clone, Copy)]
pub struct Obj<'v, 'a> {
    members: &'v [(Cow<'a, str>, Value<'a>)],
    at: usize,
}

impl<'a> Value<'a> {
    /// Where the value starts in the input.
    pub fn offset(&self) -> usize {
        self.at
    }

    pub fn is_null(&self) -> bool {
        matches!(self.kind, Kind::Null)
    }

    /// The kind of value, for messages: never the value itself.
    fn found(&self) -> &'static str {
        match self.kind {
            Kind::Null => "null",
            Kind::Bool(_) => "a boolean",
            Kind::Number(_) => "a number",
            Kind::String(_) => "a string",
            Kind::Array(_) => "an array",
            Kind::Object(_) => "an object",
        }
    }

    /// `invalid type: <found>, expected <expected>`.
    pub fn invalid_type(&self, expected: &str) -> JsonError {
        let mut m = String::from("invalid type: ");
        m.push_str(self.found());
        m.push_str(", expected ");
        m.push_str(expected);
        JsonError::at(m, self.at)
    }

    pub fn as_str(&self) -> Result<&str> {
        match &self.kind {
            Kind::String(s) => Ok(s),
            _ => Err(self.invalid_type("a string")),
        }
    }

    pub fn string(&self) -> Result<String> {
        self.as_str().map(str::to_string)
    }

    pub fn bool(&self) -> Result<bool> {
        match self.kind {
            Kind::Bool(b) => Ok(b),
            _ => Err(self.invalid_type("a boolean")),
        }
    }

    pub fn array(&self) -> Result<&[Value<'a>]> {
        match &self.kind {
            Kind::Array(items) => Ok(items),
            _ => Err(self.invalid_type("an array")),
        }
    }

    pub fn object(&self) -> Result<Obj<'_, 'a>> {
        match &self.kind {
            Kind::Object(members) => Ok(Obj {
                members,
                at: self.at,
            }),
            _ => Err(self.invalid_type("an object")),
        }
    }

    /// An integer as its sign and magnitude. Fractions, exponents, `-0` and magnitudes past
    /// 64 bits are not integers (serde_json reads them as floats), so they are type errors.
    fn integer(&self, expected: &str) -> Result<(bool, u64)> {
        let Kind::Number(text) = self.kind else {
            return Err(self.invalid_type(expected));
        };
        let (negative, digits) = match text {
            [b'-', rest @ ..] => (true, rest),
            all => (false, all),
        };
        let magnitude = digits.iter().try_fold(0u64, |acc, &d| {
            if !d.is_ascii_digit() {
                return None;
            }
            acc.checked_mul(10)?.checked_add(u64::from(d - b'0'))
        });
        match magnitude {
            Some(m) if !negative || (m != 0 && m <= 1 << 63) => Ok((negative, m)),
            _ => Err(self.invalid_type(expected)),
        }
    }

    fn out_of_range(&self, expected: &str) -> JsonError {
        let text = match self.kind {
            Kind::Number(t) => String::from_utf8_lossy(t).into_owned(),
            _ => String::new(),
        };
        JsonError::at(
            format!("invalid value: {text}, expected {expected}"),
            self.at,
        )
    }

    fn unsigned(&self, expected: &str, max: u64) -> Result<u64> {
        match self.integer(expected)? {
            (false, m) if m <= max => Ok(m),
            _ => Err(self.out_of_range(expected)),
        }
    }

    fn signed(&self, expected: &str, min: i64, max: i64) -> Result<i64> {
        let value = match self.integer(expected)? {
            (false, m) => i64::try_from(m).ok(),
            (true, m) => Some((m as i64).wrapping_neg()),
        };
        value
            .filter(|v| (min..=max).contains(v))
            .ok_or_else(|| self.out_of_range(expected))
    }

    pub fn u64(&self) -> Result<u64> {
        self.unsigned("u64", u64::MAX)
    }

    pub fn u32(&self) -> Result<u32> {
        self.unsigned("u32", u32::MAX.into()).map(|v| v as u32)
    }

    pub fn u16(&self) -> Result<u16> {
        self.unsigned("u16", u16::MAX.into()).map(|v| v as u16)
    }

    /// An object's members in their order.
    pub fn members(&self) -> Result<impl Iterator<Item = (&str, &Value<'a>)>> {
        match &self.kind {
            Kind::Object(members) => Ok(members.iter().map(|(k, v)| (k.as_ref(), v))),
            _ => Err(self.invalid_type("an object")),
        }
    }

    /// Writes the value as JSON (numbers as they were written, strings escaped anew).
    pub fn write_to(&self, out: &mut String) {
        match &self.kind {
            Kind::Null => out.push_str("null"),
            Kind::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
            // Checked against the grammar when parsed: ASCII.
            Kind::Number(text) => out.push_str(std::str::from_utf8(text).unwrap_or("0")),
            Kind::String(s) => quote_into(out, s),
            Kind::Array(items) => {
                out.push('[');
                for (i, item) in items.iter().enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    item.write_to(out);
                }
                out.push(']');
            }
            Kind::Object(members) => {
                out.push('{');
                for (i, (key, value)) in members.iter().enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    quote_into(out, key);
                    out.push(':');
                    value.write_to(out);
                }
                out.push('}');
            }
        }
    }

    /// Any number, as an `f64` (integers too, as serde_json reads them into one): exact (the
    /// nearest) for up to 15 significant digits with a decimal exponent within ±22, the numbers
    /// APIs send (percentages, sizes); within a few units in the last place beyond. The
    /// standard library's exact parser would add its tables (about 16 KB) to the wasm module.
    pub fn f64(&self) -> Result<f64> {
        let Kind::Number(text) = self.kind else {
            return Err(self.invalid_type("f64"));
        };
        decimal_to_f64(text)
            .filter(|f| f.is_finite())
            .ok_or_else(|| self.out_of_range("f64"))
    }

    pub fn i64(&self) -> Result<i64> {
        self.signed("i64", i64::MIN, i64::MAX)
    }

    pub fn i32(&self) -> Result<i32> {
        self.signed("i32", i32::MIN.into(), i32::MAX.into())
            .map(|v| v as i32)
    }

    /// An array whose items are all strings.
    pub fn string_array(&self) -> Result<&[Value<'a>]> {
        let items = self.array()?;
        for item in items {
            item.as_str()?;
        }
        Ok(items)
    }

    /// An object whose members are all strings.
    pub fn string_object(&self) -> Result<Obj<'_, 'a>> {
        let o = self.object()?;
        for (_, v) in o.members {
            v.as_str()?;
        }
        Ok(o)
    }

    /// An array of strings.
    pub fn strings(&self) -> Result<Vec<String>> {
        self.string_array().map(to_strings)
    }

    /// An object of strings; of a key given twice the last one wins (as in a map).
    pub fn string_map(&self) -> Result<BTreeMap<String, String>> {
        self.string_object().map(Obj::to_string_map)
    }
}

/// The strings of an array read with [`Value::string_array`] (anything else is left out).
pub fn to_strings(items: &[Value<'_>]) -> Vec<String> {
    let mut out = Vec::with_capacity(items.len());
    for item in items {
        if let Ok(s) = item.as_str() {
            out.push(s.to_string());
        }
    }
    out
}

/// `read` applied to every item, stopping at the first error. A plain loop on purpose: each
/// `collect::<Result<Vec<_>, _>>()` brings its own iterator adapters into the wasm module.
pub fn read_all<T>(items: &[Value<'_>], read: fn(&Value<'_>) -> Result<T>) -> Result<Vec<T>> {
    let mut out = Vec::with_capacity(items.len());
    for item in items {
        out.push(read(item)?);
    }
    Ok(out)
}

// Readers of messages check everything first, borrowing, and only then copy what they keep:
// an early return after an allocation would need code to free it, at every such return.
impl<'v, 'a> Obj<'v, 'a> {
    /// The member named `key`, `None` when absent. A key given twice is an error, as it is for
    /// the fields of serde's derived structs.
    pub fn get(self, key: &str) -> Result<Option<&'v Value<'a>>> {
        let mut found = None;
        for (k, v) in self.members {
            if k == key {
                if found.is_some() {
                    return Err(JsonError::at(format!("duplicate field `{key}`"), v.at));
                }
                found = Some(v);
            }
        }
        Ok(found)
    }

    /// The member named `key`, `None` when absent or `null` (an `Option` field).
    pub fn opt(self, key: &str) -> Result<Option<&'v Value<'a>>> {
        Ok(self.get(key)?.filter(|v| !v.is_null()))
    }

    /// The member named `key`, which must be there.
    pub fn req(self, key: &str) -> Result<&'v Value<'a>> {
        self.get(key)?
            .ok_or_else(|| JsonError::at(format!("missing field `{key}`"), self.at))
    }

    /// A required string.
    pub fn str(self, key: &str) -> Result<&'v str> {
        self.req(key)?.as_str()
    }

    /// A string that defaults to empty when absent (but may not be `null`).
    pub fn str_or_empty(self, key: &str) -> Result<&'v str> {
        self.get(key)?.map_or(Ok(""), Value::as_str)
    }

    pub fn opt_str(self, key: &str) -> Result<Option<&'v str>> {
        self.opt(key)?.map(Value::as_str).transpose()
    }

    pub fn opt_bool(self, key: &str) -> Result<Option<bool>> {
        self.opt(key)?.map(Value::bool).transpose()
    }

    /// A `u32` that defaults to zero when absent (but may not be `null`).
    pub fn u32_or_zero(self, key: &str) -> Result<u32> {
        self.get(key)?.map_or(Ok(0), Value::u32)
    }

    /// An optional object of strings (see [`Value::string_object`]).
    pub fn opt_string_object(self, key: &str) -> Result<Option<Obj<'v, 'a>>> {
        self.opt(key)?.map(Value::string_object).transpose()
    }

    /// The members that are strings, as a map; of a key given twice the last one wins.
    pub fn to_string_map(self) -> BTreeMap<String, String> {
        let mut out = BTreeMap::new();
        for (k, v) in self.members {
            if let Ok(v) = v.as_str() {
                out.insert(k.to_string(), v.to_string());
            }
        }
        out
    }
}

/// Powers of ten that an `f64` holds exactly.
const EXACT_POWERS_OF_TEN: [f64; 23] = [
    1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11, 1e12, 1e13, 1e14, 1e15, 1e16,
    1e17, 1e18, 1e19, 1e20, 1e21, 1e22,
];

/// A JSON number's text (already checked against the grammar) as an `f64`: the digits as an
/// integer times a power of ten. When both are exact in an `f64` (the integer below 2^53, the
/// power within 10^±22) one rounding gives the nearest value.
fn decimal_to_f64(text: &[u8]) -> Option<f64> {
    let (negative, rest) = match text {
        [b'-', rest @ ..] => (true, rest),
        all => (false, all),
    };
    let mut mantissa: u64 = 0;
    let mut exponent: i64 = 0;
    let mut digits = rest.iter().peekable();
    let mut fraction = false;
    while let Some(&&b) = digits.peek() {
        match b {
            b'0'..=b'9' => {
                if mantissa < (1 << 60) {
                    mantissa = mantissa * 10 + u64::from(b - b'0');
                    if fraction {
                        exponent -= 1;
                    }
                } else if !fraction {
                    // Digits past what a u64 holds only scale the value.
                    exponent += 1;
                }
                digits.next();
            }
            b'.' => {
                fraction = true;
                digits.next();
            }
            _ => break,
        }
    }
    if let Some(b'e' | b'E') = digits.next() {
        // Saturating: past ±10^6 every exponent gives 0 or infinity alike (and `5e-99…9`
        // is 0, as serde_json reads it, not an error).
        let mut written: i64 = 0;
        let mut sign = 1;
        for &b in digits {
            match b {
                b'-' => sign = -1,
                b'0'..=b'9' => written = (written * 10 + i64::from(b - b'0')).min(1_000_000),
                _ => {}
            }
        }
        exponent = exponent.saturating_add(sign * written);
    }
    // Trailing zeros go to the exponent, so that the digits that matter convert exactly
    // (found by fuzz/json: `123456781234506000000000000` was read one unit off).
    while mantissa != 0 && mantissa.is_multiple_of(10) {
        mantissa /= 10;
        exponent = exponent.saturating_add(1);
    }
    let mut value = mantissa as f64;
    let step = |value: f64, by: i64| {
        if by >= 0 {
            value * EXACT_POWERS_OF_TEN[by as usize]
        } else {
            value / EXACT_POWERS_OF_TEN[(-by) as usize]
        }
    };
    // Beyond 10^±22, in steps (each step rounds, so the result is close but not always nearest).
    while exponent.abs() > 22 && value != 0.0 && value.is_finite() {
        let by = exponent.clamp(-22, 22);
        value = step(value, by);
        exponent -= by;
    }
    value = step(value, exponent.clamp(-22, 22));
    Some(if negative { -value } else { value })
}

/// An owned copy of an optional borrowed string.
pub fn owned(s: Option<&str>) -> Option<String> {
    s.map(str::to_string)
}

#[cfg(test)]
mod tests {

    #[test]
    fn a_quote_backslash_or_control_character_is_seen_at_every_offset() {
        for at in 0..40 {
            let pad = "x".repeat(at);
            let text = format!("\"{pad}\\n{pad}\"");
            let v = parse(text.as_bytes()).unwrap();
            assert_eq!(v.as_str().unwrap(), format!("{pad}\n{pad}"));
            let text = format!("[\"{pad}é\",\"{pad}\"]");
            let v = parse(text.as_bytes()).unwrap();
            assert_eq!(v.strings().unwrap(), [format!("{pad}é"), pad.clone()]);
            let err = parse(format!("\"{pad}\u{1}{pad}\"").as_bytes()).unwrap_err();
            assert!(err.to_string().contains("control character"), "{err}");
            assert!(parse(format!("\"{pad}").as_bytes()).is_err());
        }
    }

    #[test]
    fn numbers_read_as_f64_agree_with_serde_json() {
        let read = |t: &str| parse(t.as_bytes()).unwrap().f64().ok();
        // Up to 15 significant digits within 10^±22: exactly what serde_json reads.
        for t in [
            "0",
            "-0",
            "3",
            "12.5",
            "49.6",
            "0.1",
            "-2.25",
            "1e2",
            "1E-5",
            "100.01",
            "5e22",
            "123456789012345",
            "0.000001",
            "99.99",
            "536870912",
            "1.5e-7",
        ] {
            let theirs: f64 = serde_json::from_str(t).unwrap();
            assert_eq!(read(t).map(f64::to_bits), Some(theirs.to_bits()), "{t}");
        }
        // Beyond: close.
        for t in [
            "1.7976931348623157e308",
            "2.2250738585072014e-308",
            "12345678901234567890123",
        ] {
            let theirs: f64 = serde_json::from_str(t).unwrap();
            let ours = read(t).unwrap();
            assert!(
                ((ours - theirs) / theirs).abs() < 1e-14,
                "{t}: {ours} vs {theirs}"
            );
        }
        assert_eq!(read("1e400"), None, "out of range");
        // Found by fuzz/json: an exponent past i64 is 0 (or out of range), not an error.
        assert_eq!(read("5e-3456789134832209450617283945"), Some(0.0));
        assert_eq!(read("-0e99999999999999999999"), Some(-0.0));
        assert_eq!(read("1e3456789134832209450617283945"), None);
        assert_eq!(
            read("123456781234506000000000000"),
            Some(1.23456781234506e26)
        );
    }
    use super::*;

    fn err(doc: &[u8]) -> String {
        parse(doc)
            .expect_err(&String::from_utf8_lossy(doc))
            .to_string()
    }

    /// The reader and serde_json agree on what is JSON (serde_json also refuses numbers out
    /// of f64's range, which this reader keeps as text; those are tested apart).
    fn agrees(doc: &[u8]) {
        let ours = parse(doc).map(|v| to_serde(&v));
        let theirs = serde_json::from_slice::<serde_json::Value>(doc);
        match (ours, theirs) {
            (Ok(a), Ok(b)) => assert_eq!(a, b, "{}", String::from_utf8_lossy(doc)),
            (Err(_), Err(_)) => {}
            (a, b) => panic!(
                "{}: ours {:?}, serde_json {:?}",
                String::from_utf8_lossy(doc),
                a,
                b
            ),
        }
    }

    fn to_serde(v: &Value<'_>) -> serde_json::Value {
        match &v.kind {
            Kind::Null => serde_json::Value::Null,
            Kind::Bool(b) => (*b).into(),
            Kind::Number(t) => serde_json::from_slice(t).unwrap(),
            Kind::String(s) => s.to_string().into(),
            Kind::Array(items) => items.iter().map(to_serde).collect(),
            Kind::Object(members) => members
                .iter()
                .map(|(k, v)| (k.to_string(), to_serde(v)))
                .collect::<serde_json::Map<_, _>>()
                .into(),
        }
    }

    #[test]
    fn reads_what_serde_json_reads() {
        for doc in [
            &br#"{"a":[1,-2,3.5,-0.0,1e3,1E-2,2e+2,0],"b":{"c":null,"d":true,"e":false}}"#[..],
            br#" [ {} , {"k":"v"} , [] , [[]] ] "#,
            br#""\"\\\/\b\f\n\r\t\u0041\u00e9\u20ac\ud83d\ude00""#,
            "\"caf\u{e9} \u{1F600}\"".as_bytes(),
            b"0",
            b"-0",
            b"18446744073709551615",
            b"-9223372036854775808",
            b"123456789012345678901234567890",
            b"\t\r\n null \n",
            br#"{"a":1,"a":2}"#,
        ] {
            agrees(doc);
        }
    }

    #[test]
    fn refuses_what_serde_json_refuses() {
        for doc in [
            &b""[..],
            b" ",
            b"{",
            b"}",
            b"[1,]",
            b"[1 2]",
            b"[,1]",
            b"{\"a\":1,}",
            b"{\"a\" 1}",
            b"{\"a\":}",
            b"{a:1}",
            b"{1:1}",
            b"[01]",
            b"[-01]",
            b"[1.]",
            b"[.5]",
            b"[1e]",
            b"[1e+]",
            b"[-]",
            b"[+1]",
            b"[0x10]",
            b"[NaN]",
            b"[\"\\x\"]",
            b"[\"\\u12\"]",
            b"[\"\\u12G4\"]",
            b"[\"a\nb\"]",
            b"[\"a\x01b\"]",
            b"[\"abc",
            b"[\"abc\\",
            b"[nul]",
            b"[nulll]",
            b"[True]",
            b"[] []",
            b"[1]x",
            b"[\"\\ud800\"]",
            b"[\"\\ud800x\"]",
            b"[\"\\udc00\"]",
            b"[\"\\ud800\\u0041\"]",
            b"[\"\\ud800\\ud800\"]",
            b"[\"\xff\"]",
            b"[\"\xc3\"]",
            b"[\"\xed\xa0\x80\"]",
        ] {
            agrees(doc);
            assert!(parse(doc).is_err(), "{}", String::from_utf8_lossy(doc));
        }
    }

    #[test]
    fn strings_decode_escapes_and_surrogate_pairs() {
        let v = parse(br#"["plain","a\"b","\u00e9\ud83d\ude00","\/\\","tab\there"]"#).unwrap();
        let items = v.array().unwrap();
        let texts: Vec<&str> = items.iter().map(|s| s.as_str().unwrap()).collect();
        assert_eq!(texts, ["plain", "a\"b", "é😀", "/\\", "tab\there"]);
        // Strings without escapes borrow from the input.
        assert!(matches!(items[0].kind, Kind::String(Cow::Borrowed(_))));
        assert!(matches!(items[1].kind, Kind::String(Cow::Owned(_))));
    }

    #[test]
    fn nesting_is_limited() {
        let ok = "[".repeat(MAX_DEPTH as usize) + &"]".repeat(MAX_DEPTH as usize);
        parse(ok.as_bytes()).unwrap();
        let deep = "[".repeat(MAX_DEPTH as usize + 1) + &"]".repeat(MAX_DEPTH as usize + 1);
        assert!(err(deep.as_bytes()).starts_with("nesting too deep"));
        let objects = r#"{"a":"#.repeat(200) + "1" + &"}".repeat(200);
        assert!(err(objects.as_bytes()).starts_with("nesting too deep"));
        // Far deeper than the limit: refused without exhausting the stack.
        let huge = "[".repeat(100_000);
        assert!(err(huge.as_bytes()).starts_with("nesting too deep"));
    }

    #[test]
    fn errors_name_the_place() {
        assert_eq!(err(b"[1,]"), "expected a JSON value at byte 3");
        assert_eq!(err(b"{\"a\":1} x"), "trailing characters at byte 8");
        assert_eq!(err(b"[\"a"), "unterminated string at byte 3");
        assert_eq!(err(b"[01]"), "invalid number at byte 1");
        assert_eq!(err(b"{\"a\" 1}"), "expected `:` at byte 5");
        assert_eq!(err(b"[\"\xff\"]"), "string is not UTF-8 at byte 2");
        assert_eq!(err(b""), "unexpected end of input at byte 0");
    }

    #[test]
    fn integers_must_fit_their_type() {
        let v = parse(b"[0,4294967295,4294967296,-1,1.5,1e2,-0,18446744073709551616,-9223372036854775808,-9223372036854775809,65535]").unwrap();
        let n = v.array().unwrap();
        assert_eq!(n[0].u32().unwrap(), 0);
        assert_eq!(n[1].u32().unwrap(), u32::MAX);
        assert_eq!(
            n[2].u32().unwrap_err().to_string(),
            "invalid value: 4294967296, expected u32 at byte 14"
        );
        assert_eq!(n[2].u64().unwrap(), 1 << 32);
        assert!(n[3].u32().is_err());
        assert_eq!(n[3].i32().unwrap(), -1);
        assert_eq!(
            n[4].i64().unwrap_err().to_string(),
            "invalid type: a number, expected i64 at byte 28"
        );
        assert!(n[5].u64().is_err());
        assert!(n[6].i64().is_err());
        assert!(n[7].u64().is_err());
        assert_eq!(n[8].i64().unwrap(), i64::MIN);
        assert!(n[9].i64().is_err());
        assert!(n[8].i32().is_err());
        assert_eq!(n[10].u16().unwrap(), u16::MAX);
        assert!(n[1].u16().is_err());
        assert_eq!(
            parse(b"\"7\"").unwrap().u32().unwrap_err().to_string(),
            "invalid type: a string, expected u32 at byte 0"
        );
    }

    #[test]
    fn fields_follow_serde_derive_rules() {
        let v =
            parse(br#"{"s":"x","n":null,"i":3,"m":{"a":"1","a":"2"},"d":1,"d":2,"l":["a","b"]}"#)
                .unwrap();
        let o = v.object().unwrap();
        assert_eq!(o.str("s").unwrap(), "x");
        assert_eq!(o.opt_str("n").unwrap(), None);
        assert_eq!(o.opt_str("absent").unwrap(), None);
        assert_eq!(o.str_or_empty("absent").unwrap(), "");
        assert!(o.str_or_empty("n").is_err());
        assert!(o.str("n").is_err());
        assert_eq!(
            o.str("absent").unwrap_err().to_string(),
            "missing field `absent` at byte 0"
        );
        assert_eq!(o.u32_or_zero("i").unwrap(), 3);
        assert_eq!(o.u32_or_zero("absent").unwrap(), 0);
        assert!(o.u32_or_zero("n").is_err());
        assert_eq!(
            o.opt_string_object("m").unwrap().unwrap().to_string_map(),
            BTreeMap::from([("a".to_string(), "2".to_string())])
        );
        assert!(o.opt_string_object("l").is_err());
        assert_eq!(o.opt_string_object("n").unwrap().map(|_| ()), None);
        assert!(
            o.get("d")
                .unwrap_err()
                .to_string()
                .starts_with("duplicate field `d`")
        );
        assert_eq!(o.req("l").unwrap().strings().unwrap(), ["a", "b"]);
        assert!(o.req("m").unwrap().strings().is_err());
        assert!(o.req("i").unwrap().object().is_err());
    }

    #[test]
    fn writes_what_serde_json_writes() {
        let mut all = String::new();
        for c in (0u32..0x250).chain([0x2028, 0x2029, 0xfeff, 0x1f600]) {
            all.push(char::from_u32(c).unwrap());
        }
        for s in ["", "plain", "a\"b\\c/d", "\u{7f}\u{0}\u{1f}", all.as_str()] {
            assert_eq!(quote(s), serde_json::to_string(s).unwrap());
        }
        let mut w = Writer::new();
        w.begin_object();
        w.field_str("a", "x\ny");
        w.field_opt_str("none", None);
        w.field_opt_i64("neg", Some(i64::MIN));
        w.field_opt_i64("pos", Some(42));
        w.field_u64("max", u64::MAX);
        w.field_bool("t", true);
        w.field_opt_bool("f", Some(false));
        w.field_opt_strings("l", Some(&["p".to_string(), "q".to_string()]));
        w.field_opt_strings("e", Some(&[]));
        w.field_opt_map(
            "m",
            Some(&BTreeMap::from([("k\"".to_string(), "v".to_string())])),
        );
        w.key("nested");
        w.begin_array();
        w.begin_object();
        w.end_object();
        w.u64(0);
        w.end_array();
        w.end_object();
        let expected = serde_json::json!({
            "a": "x\ny", "neg": i64::MIN, "pos": 42, "max": u64::MAX, "t": true, "f": false,
            "l": ["p", "q"], "e": [], "m": {"k\"": "v"}, "nested": [{}, 0]
        });
        assert_eq!(
            serde_json::from_str::<serde_json::Value>(&w.finish()).unwrap(),
            expected
        );
        assert_eq!(decimal(0), "0");
        assert_eq!(decimal(u64::MAX), "18446744073709551615");
    }
}
