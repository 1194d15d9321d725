//! A small JSON reader behind serde's `Deserializer`: how the client decodes API responses.
//!
//! serde_json would do the same job, but its error messages print the floating-point value
//! they did not expect, and that one path brings Rust's float formatting (about 17 KB) into
//! the wasm module. Errors here name the kind of value instead. The reader accepts exactly
//! RFC 8259 JSON: strict strings (escapes, surrogate pairs, no control characters), no
//! trailing commas, no trailing characters, nesting at most [`MAX_DEPTH`] deep.
//!
//! Numbers: integers are exact (`u64`/`i64`); anything with a fraction or an exponent is
//! computed in `f64` without correct rounding in the last bit, which is good enough for an
//! API that sends no floats.

use serde::de::{
    self, DeserializeSeed, Deserializer, EnumAccess, IntoDeserializer, MapAccess, SeqAccess,
    Unexpected, Visitor,
};
use std::borrow::Cow;
use std::fmt;

/// How deep arrays and objects may nest: a hostile body must not exhaust the stack.
pub const MAX_DEPTH: u32 = 128;

/// Why a body did not decode, and the byte offset where the reader was.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JsonError {
    message: String,
    offset: Option<usize>,
}

impl JsonError {
    fn at(message: impl Into<String>, offset: usize) -> Self {
        JsonError {
            message: message.into(),
            offset: Some(offset),
        }
    }
}

impl fmt::Display for JsonError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.offset {
            Some(at) => write!(f, "{} at byte {at}", self.message),
            None => f.write_str(&self.message),
        }
    }
}

impl std::error::Error for JsonError {}

/// The kind of an unexpected value, without printing the value itself.
fn kind(unexpected: &Unexpected<'_>) -> &'static str {
    match unexpected {
        Unexpected::Bool(_) => "a boolean",
        Unexpected::Unsigned(_) | Unexpected::Signed(_) | Unexpected::Float(_) => "a number",
        Unexpected::Char(_) | Unexpected::Str(_) => "a string",
        Unexpected::Bytes(_) => "bytes",
        Unexpected::Unit => "null",
        Unexpected::Seq => "an array",
        Unexpected::Map => "an object",
        _ => "another kind of value",
    }
}

impl de::Error for JsonError {
    fn custom<T: fmt::Display>(msg: T) -> Self {
        JsonError {
            message: msg.to_string(),
            offset: None,
        }
    }

    fn invalid_type(unexpected: Unexpected<'_>, expected: &dyn de::Expected) -> Self {
        de::Error::custom(format_args!(
            "invalid type: {}, expected {expected}",
            kind(&unexpected)
        ))
    }

    fn invalid_value(unexpected: Unexpected<'_>, expected: &dyn de::Expected) -> Self {
        let what = match unexpected {
            Unexpected::Str(s) => format!("\"{s}\""),
            Unexpected::Unsigned(n) => n.to_string(),
            Unexpected::Signed(n) => n.to_string(),
            other => kind(&other).to_string(),
        };
        de::Error::custom(format_args!("invalid value: {what}, expected {expected}"))
    }
}

type Result<T> = std::result::Result<T, JsonError>;

/// Decodes one JSON document into `T`.
pub fn from_slice<'de, T: de::Deserialize<'de>>(input: &'de [u8]) -> Result<T> {
    let mut reader = Reader {
        input,
        pos: 0,
        depth: 0,
    };
    let value = T::deserialize(&mut reader).map_err(|mut e| {
        // Errors raised by serde's visitors carry no position; the reader's is close enough.
        e.offset.get_or_insert(reader.pos);
        e
    })?;
    reader.skip_whitespace();
    if reader.pos != input.len() {
        return Err(JsonError::at("trailing characters", reader.pos));
    }
    Ok(value)
}

struct Reader<'de> {
    input: &'de [u8],
    pos: usize,
    depth: u32,
}

enum Number {
    Unsigned(u64),
    Signed(i64),
    Float(f64),
}

// The parsing steps are kept out of line: `deserialize_any` is instantiated once per visitor
// type, and inlining them there would copy the whole parser into every instance.
impl<'de> Reader<'de> {
    fn error(&self, message: &str) -> JsonError {
        JsonError::at(message, self.pos)
    }

    fn skip_whitespace(&mut self) {
        while let Some(b' ' | b'\t' | b'\n' | b'\r') = self.input.get(self.pos) {
            self.pos += 1;
        }
    }

    /// The next significant byte, not consumed.
    #[inline(never)]
    fn peek(&mut self) -> Result<u8> {
        self.skip_whitespace();
        self.input
            .get(self.pos)
            .copied()
            .ok_or_else(|| self.error("unexpected end of input"))
    }

    #[inline(never)]
    fn eat(&mut self, byte: u8, what: &str) -> Result<()> {
        if self.peek()? == byte {
            self.pos += 1;
            Ok(())
        } else {
            Err(self.error(what))
        }
    }

    #[inline(never)]
    fn literal(&mut self, word: &[u8]) -> Result<()> {
        if self.input[self.pos..].starts_with(word) {
            self.pos += word.len();
            Ok(())
        } else {
            Err(self.error("expected a JSON value"))
        }
    }

    #[inline(never)]
    fn enter(&mut self) -> Result<()> {
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            return Err(self.error("nesting too deep"));
        }
        Ok(())
    }

    /// A string; borrowed from the input unless it has escapes. The opening quote is next.
    #[inline(never)]
    fn string(&mut self) -> Result<Cow<'de, str>> {
        self.pos += 1;
        let start = self.pos;
        let mut owned: Option<Vec<u8>> = None;
        let mut run_start = start;
        loop {
            let Some(&b) = self.input.get(self.pos) else {
                return Err(self.error("unterminated string"));
            };
            match b {
                b'"' => {
                    let tail = &self.input[run_start..self.pos];
                    self.pos += 1;
                    let text = match owned {
                        None => Cow::Borrowed(tail),
                        Some(mut buf) => {
                            buf.extend_from_slice(tail);
                            Cow::Owned(buf)
                        }
                    };
                    return match text {
                        Cow::Borrowed(bytes) => std::str::from_utf8(bytes)
                            .map(Cow::Borrowed)
                            .map_err(|_| JsonError::at("string is not UTF-8", start)),
                        Cow::Owned(bytes) => String::from_utf8(bytes)
                            .map(Cow::Owned)
                            .map_err(|_| JsonError::at("string is not UTF-8", start)),
                    };
                }
                b'\\' => {
                    let buf = owned.get_or_insert_with(Vec::new);
                    buf.extend_from_slice(&self.input[run_start..self.pos]);
                    self.pos += 1;
                    let escaped = self.escape()?;
                    let mut utf8 = [0; 4];
                    buf.extend_from_slice(escaped.encode_utf8(&mut utf8).as_bytes());
                    run_start = self.pos;
                }
                0..=0x1f => return Err(self.error("control character in string")),
                _ => self.pos += 1,
            }
        }
    }

    /// The character of an escape; the backslash has been consumed.
    #[inline(never)]
    fn escape(&mut self) -> Result<char> {
        let Some(&b) = self.input.get(self.pos) else {
            return Err(self.error("unterminated string"));
        };
        self.pos += 1;
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
                match first {
                    0xD800..=0xDBFF => {
                        if !self.input[self.pos..].starts_with(b"\\u") {
                            return Err(self.error("lone surrogate in \\u escape"));
                        }
                        self.pos += 2;
                        let second = self.hex4()?;
                        if !(0xDC00..=0xDFFF).contains(&second) {
                            return Err(self.error("lone surrogate in \\u escape"));
                        }
                        let code = 0x10000 + ((first - 0xD800) << 10) + (second - 0xDC00);
                        char::from_u32(code).ok_or_else(|| self.error("invalid \\u escape"))?
                    }
                    0xDC00..=0xDFFF => return Err(self.error("lone surrogate in \\u escape")),
                    _ => char::from_u32(first).ok_or_else(|| self.error("invalid \\u escape"))?,
                }
            }
            _ => return Err(self.error("invalid escape")),
        })
    }

    #[inline(never)]
    fn hex4(&mut self) -> Result<u32> {
        let digits = self
            .input
            .get(self.pos..self.pos + 4)
            .ok_or_else(|| self.error("unterminated \\u escape"))?;
        let mut code = 0;
        for &d in digits {
            let v = (d as char)
                .to_digit(16)
                .ok_or_else(|| self.error("invalid \\u escape"))?;
            code = code * 16 + v;
        }
        self.pos += 4;
        Ok(code)
    }

    /// An `invalid type` error for the value that starts here.
    fn invalid(&mut self, expected: &dyn de::Expected) -> JsonError {
        let found = match self.peek() {
            Ok(b'n') => Unexpected::Unit,
            Ok(b't') => Unexpected::Bool(true),
            Ok(b'f') => Unexpected::Bool(false),
            Ok(b'"') => Unexpected::Str(""),
            Ok(b'[') => Unexpected::Seq,
            Ok(b'{') => Unexpected::Map,
            Ok(b'-' | b'0'..=b'9') => Unexpected::Unsigned(0),
            Ok(_) => return self.error("expected a JSON value"),
            Err(e) => return e,
        };
        let mut e: JsonError = de::Error::invalid_type(found, expected);
        e.offset = Some(self.pos);
        e
    }

    fn digits(&mut self) -> usize {
        let start = self.pos;
        while self.input.get(self.pos).is_some_and(u8::is_ascii_digit) {
            self.pos += 1;
        }
        self.pos - start
    }

    #[inline(never)]
    fn number(&mut self) -> Result<Number> {
        let start = self.pos;
        let negative = self.input[self.pos] == b'-';
        if negative {
            self.pos += 1;
        }
        let int_start = self.pos;
        let int_len = self.digits();
        if int_len == 0 || (int_len > 1 && self.input[int_start] == b'0') {
            return Err(JsonError::at("invalid number", start));
        }
        let mut fraction = None;
        if self.input.get(self.pos) == Some(&b'.') {
            self.pos += 1;
            let frac_start = self.pos;
            if self.digits() == 0 {
                return Err(JsonError::at("invalid number", start));
            }
            fraction = Some(frac_start..self.pos);
        }
        let mut exponent: i32 = 0;
        let mut has_exponent = false;
        if let Some(b'e' | b'E') = self.input.get(self.pos) {
            has_exponent = true;
            self.pos += 1;
            let sign = match self.input.get(self.pos) {
                Some(b'-') => {
                    self.pos += 1;
                    -1
                }
                Some(b'+') => {
                    self.pos += 1;
                    1
                }
                _ => 1,
            };
            let exp_start = self.pos;
            if self.digits() == 0 {
                return Err(JsonError::at("invalid number", start));
            }
            for &d in &self.input[exp_start..self.pos] {
                exponent = exponent
                    .saturating_mul(10)
                    .saturating_add(i32::from(d - b'0'));
            }
            exponent *= sign;
        }
        let int_digits = &self.input[int_start..int_start + int_len];
        if fraction.is_none() && !has_exponent {
            let magnitude = int_digits.iter().try_fold(0u64, |acc, &d| {
                acc.checked_mul(10)?.checked_add(u64::from(d - b'0'))
            });
            match (magnitude, negative) {
                (Some(m), false) => return Ok(Number::Unsigned(m)),
                // `-0` stays a float, as serde_json reads it.
                (Some(m), true) if m != 0 && m <= i64::MAX as u64 + 1 => {
                    return Ok(Number::Signed((m as i64).wrapping_neg()));
                }
                _ => {}
            }
        }
        // Digits as an f64 mantissa, then scaled by the decimal exponent.
        let mut mantissa = 0f64;
        for &d in int_digits {
            mantissa = mantissa * 10.0 + f64::from(d - b'0');
        }
        if let Some(frac) = fraction {
            for &d in &self.input[frac.clone()] {
                mantissa = mantissa * 10.0 + f64::from(d - b'0');
            }
            exponent = exponent.saturating_sub(frac.len() as i32);
        }
        let value = if exponent < 0 {
            mantissa / 10f64.powi(exponent.saturating_neg())
        } else {
            mantissa * 10f64.powi(exponent)
        };
        if value.is_infinite() {
            return Err(JsonError::at("number out of range", start));
        }
        Ok(Number::Float(if negative { -value } else { value }))
    }

    /// Skips one value of any kind, without allocating.
    #[inline(never)]
    fn skip_value(&mut self) -> Result<()> {
        match self.peek()? {
            b'"' => self.string().map(drop),
            b'n' => self.literal(b"null"),
            b't' => self.literal(b"true"),
            b'f' => self.literal(b"false"),
            b'-' | b'0'..=b'9' => self.number().map(drop),
            open @ (b'[' | b'{') => {
                let close = if open == b'[' { b']' } else { b'}' };
                self.enter()?;
                self.pos += 1;
                if self.peek()? == close {
                    self.pos += 1;
                } else {
                    loop {
                        if open == b'{' {
                            if self.peek()? != b'"' {
                                return Err(self.error("expected a string key"));
                            }
                            self.string()?;
                            self.eat(b':', "expected `:`")?;
                        }
                        self.skip_value()?;
                        match self.peek()? {
                            b',' => self.pos += 1,
                            b if b == close => {
                                self.pos += 1;
                                break;
                            }
                            _ => return Err(self.error("expected `,` or a closing bracket")),
                        }
                    }
                }
                self.depth -= 1;
                Ok(())
            }
            _ => Err(self.error("expected a JSON value")),
        }
    }
}

impl<'de> Deserializer<'de> for &mut Reader<'de> {
    type Error = JsonError;

    fn deserialize_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value> {
        match self.peek()? {
            b'n' => {
                self.literal(b"null")?;
                visitor.visit_unit()
            }
            b't' => {
                self.literal(b"true")?;
                visitor.visit_bool(true)
            }
            b'f' => {
                self.literal(b"false")?;
                visitor.visit_bool(false)
            }
            b'"' => match self.string()? {
                Cow::Borrowed(s) => visitor.visit_borrowed_str(s),
                Cow::Owned(s) => visitor.visit_string(s),
            },
            b'-' | b'0'..=b'9' => match self.number()? {
                Number::Unsigned(n) => visitor.visit_u64(n),
                Number::Signed(n) => visitor.visit_i64(n),
                Number::Float(n) => visitor.visit_f64(n),
            },
            b'[' => {
                self.enter()?;
                self.pos += 1;
                let value = visitor.visit_seq(Elements {
                    reader: &mut *self,
                    first: true,
                })?;
                self.eat(b']', "expected `,` or `]`")?;
                self.depth -= 1;
                Ok(value)
            }
            b'{' => {
                self.enter()?;
                self.pos += 1;
                let value = visitor.visit_map(Entries {
                    reader: &mut *self,
                    first: true,
                })?;
                self.eat(b'}', "expected `,` or `}`")?;
                self.depth -= 1;
                Ok(value)
            }
            _ => Err(self.error("expected a JSON value")),
        }
    }

    fn deserialize_option<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value> {
        if self.peek()? == b'n' {
            self.literal(b"null")?;
            visitor.visit_none()
        } else {
            visitor.visit_some(self)
        }
    }

    // The typed entry points parse only what their type can be and refuse the rest. Going
    // through `deserialize_any` would work too, but would instantiate the whole parser
    // (strings, numbers, arrays, objects) once per visitor type: that was half of the wasm
    // module's JSON code.

    fn deserialize_bool<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value> {
        match self.peek()? {
            b't' => {
                self.literal(b"true")?;
                visitor.visit_bool(true)
            }
            b'f' => {
                self.literal(b"false")?;
                visitor.visit_bool(false)
            }
            _ => Err(self.invalid(&visitor)),
        }
    }

    fn deserialize_u64<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value> {
        match self.peek()? {
            b'-' | b'0'..=b'9' => match self.number()? {
                Number::Unsigned(n) => visitor.visit_u64(n),
                Number::Signed(n) => visitor.visit_i64(n),
                Number::Float(n) => visitor.visit_f64(n),
            },
            _ => Err(self.invalid(&visitor)),
        }
    }

    fn deserialize_str<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value> {
        if self.peek()? != b'"' {
            return Err(self.invalid(&visitor));
        }
        match self.string()? {
            Cow::Borrowed(s) => visitor.visit_borrowed_str(s),
            Cow::Owned(s) => visitor.visit_string(s),
        }
    }

    fn deserialize_seq<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value> {
        if self.peek()? != b'[' {
            return Err(self.invalid(&visitor));
        }
        self.enter()?;
        self.pos += 1;
        let value = visitor.visit_seq(Elements {
            reader: &mut *self,
            first: true,
        })?;
        self.eat(b']', "expected `,` or `]`")?;
        self.depth -= 1;
        Ok(value)
    }

    fn deserialize_map<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value> {
        if self.peek()? != b'{' {
            return Err(self.invalid(&visitor));
        }
        self.enter()?;
        self.pos += 1;
        let value = visitor.visit_map(Entries {
            reader: &mut *self,
            first: true,
        })?;
        self.eat(b'}', "expected `,` or `}`")?;
        self.depth -= 1;
        Ok(value)
    }

    fn deserialize_unit<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value> {
        if self.peek()? != b'n' {
            return Err(self.invalid(&visitor));
        }
        self.literal(b"null")?;
        visitor.visit_unit()
    }

    fn deserialize_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        _fields: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value> {
        self.deserialize_map(visitor)
    }

    fn deserialize_tuple<V: Visitor<'de>>(self, _len: usize, visitor: V) -> Result<V::Value> {
        self.deserialize_seq(visitor)
    }

    fn deserialize_tuple_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        _len: usize,
        visitor: V,
    ) -> Result<V::Value> {
        self.deserialize_seq(visitor)
    }

    fn deserialize_unit_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        visitor: V,
    ) -> Result<V::Value> {
        self.deserialize_unit(visitor)
    }

    fn deserialize_string<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value> {
        self.deserialize_str(visitor)
    }

    fn deserialize_identifier<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value> {
        self.deserialize_str(visitor)
    }

    fn deserialize_char<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value> {
        self.deserialize_str(visitor)
    }

    fn deserialize_i8<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value> {
        self.deserialize_u64(visitor)
    }
    fn deserialize_i16<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value> {
        self.deserialize_u64(visitor)
    }
    fn deserialize_i32<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value> {
        self.deserialize_u64(visitor)
    }
    fn deserialize_i64<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value> {
        self.deserialize_u64(visitor)
    }
    fn deserialize_u8<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value> {
        self.deserialize_u64(visitor)
    }
    fn deserialize_u16<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value> {
        self.deserialize_u64(visitor)
    }
    fn deserialize_u32<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value> {
        self.deserialize_u64(visitor)
    }
    fn deserialize_f32<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value> {
        self.deserialize_u64(visitor)
    }
    fn deserialize_f64<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value> {
        self.deserialize_u64(visitor)
    }

    fn deserialize_newtype_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        visitor: V,
    ) -> Result<V::Value> {
        visitor.visit_newtype_struct(self)
    }

    /// Unit variants only (`"running"`): the API has no enums with data.
    fn deserialize_enum<V: Visitor<'de>>(
        self,
        _name: &'static str,
        _variants: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value> {
        if self.peek()? != b'"' {
            return Err(self.error("invalid type: expected a string naming an enum variant"));
        }
        match self.string()? {
            Cow::Borrowed(s) => visitor.visit_enum(UnitVariant(s)),
            Cow::Owned(s) => visitor.visit_enum(UnitVariant(s.as_str())),
        }
    }

    fn deserialize_ignored_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value> {
        self.skip_value()?;
        visitor.visit_unit()
    }

    serde::forward_to_deserialize_any! {
        i128 u128 bytes byte_buf
    }
}

struct Elements<'a, 'de> {
    reader: &'a mut Reader<'de>,
    first: bool,
}

impl<'de> SeqAccess<'de> for Elements<'_, 'de> {
    type Error = JsonError;

    fn next_element_seed<T: DeserializeSeed<'de>>(&mut self, seed: T) -> Result<Option<T::Value>> {
        if self.reader.peek()? == b']' {
            return Ok(None);
        }
        if !self.first {
            self.reader.eat(b',', "expected `,` or `]`")?;
            if self.reader.peek()? == b']' {
                return Err(self.reader.error("trailing comma"));
            }
        }
        self.first = false;
        seed.deserialize(&mut *self.reader).map(Some)
    }
}

struct Entries<'a, 'de> {
    reader: &'a mut Reader<'de>,
    first: bool,
}

impl<'de> MapAccess<'de> for Entries<'_, 'de> {
    type Error = JsonError;

    fn next_key_seed<K: DeserializeSeed<'de>>(&mut self, seed: K) -> Result<Option<K::Value>> {
        if self.reader.peek()? == b'}' {
            return Ok(None);
        }
        if !self.first {
            self.reader.eat(b',', "expected `,` or `}`")?;
        }
        self.first = false;
        if self.reader.peek()? != b'"' {
            return Err(self.reader.error("expected a string key"));
        }
        let key = self.reader.string()?;
        self.reader.eat(b':', "expected `:`")?;
        match key {
            Cow::Borrowed(k) => seed.deserialize(k.into_deserializer()),
            Cow::Owned(k) => seed.deserialize(k.into_deserializer()),
        }
        .map(Some)
    }

    fn next_value_seed<V: DeserializeSeed<'de>>(&mut self, seed: V) -> Result<V::Value> {
        seed.deserialize(&mut *self.reader)
    }
}

/// A unit variant given by name.
struct UnitVariant<'a>(&'a str);

impl<'de> EnumAccess<'de> for UnitVariant<'_> {
    type Error = JsonError;
    type Variant = UnitOnly;

    fn variant_seed<V: DeserializeSeed<'de>>(self, seed: V) -> Result<(V::Value, UnitOnly)> {
        let name: de::value::StrDeserializer<'_, JsonError> = self.0.into_deserializer();
        Ok((seed.deserialize(name)?, UnitOnly))
    }
}

struct UnitOnly;

impl<'de> de::VariantAccess<'de> for UnitOnly {
    type Error = JsonError;

    fn unit_variant(self) -> Result<()> {
        Ok(())
    }

    fn newtype_variant_seed<T: DeserializeSeed<'de>>(self, _seed: T) -> Result<T::Value> {
        Err(de::Error::custom("expected a variant with data"))
    }

    fn tuple_variant<V: Visitor<'de>>(self, _len: usize, _visitor: V) -> Result<V::Value> {
        Err(de::Error::custom("expected a variant with data"))
    }

    fn struct_variant<V: Visitor<'de>>(
        self,
        _fields: &'static [&'static str],
        _visitor: V,
    ) -> Result<V::Value> {
        Err(de::Error::custom("expected a variant with data"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::{ListedSandbox, LooseErrorBody, SandboxAccess, SandboxCreated, StringMap};
    use serde::Deserialize;

    /// Both readers must agree on every document serde_json accepts.
    fn same<T>(doc: &str)
    where
        T: for<'de> Deserialize<'de> + PartialEq + fmt::Debug,
    {
        let ours: T = from_slice(doc.as_bytes()).unwrap_or_else(|e| panic!("{doc}: {e}"));
        let theirs: T = serde_json::from_str(doc).unwrap();
        assert_eq!(ours, theirs, "{doc}");
    }

    fn fails<T: for<'de> Deserialize<'de> + fmt::Debug>(doc: &[u8]) -> String {
        let err = from_slice::<T>(doc).expect_err(&String::from_utf8_lossy(doc));
        assert!(
            serde_json::from_slice::<T>(doc).is_err(),
            "serde_json accepts {}",
            String::from_utf8_lossy(doc)
        );
        err.to_string()
    }

    #[test]
    fn wire_types_decode_as_serde_json_does() {
        same::<ListedSandbox>(
            r#"{"sandboxID":"abc","templateID":"base","clientID":"c","alias":null,
                "startedAt":"2026-01-01T00:00:00.000Z","endAt":"2026-01-01T00:05:00Z",
                "cpuCount":2,"memoryMB":512,"diskSizeMB":0,"state":"paused","envdVersion":"0.2.0",
                "metadata":{"a b":"c=d","é":"\u00e9\ud83d\ude00"},"unknown":[1,{"x":[true,null]}]}"#,
        );
        same::<SandboxCreated>(
            r#"{"sandboxID":"i","templateID":"t","envdVersion":"v","trafficAccessToken":null,"domain":"d"}"#,
        );
        same::<SandboxAccess>(
            r#"{"domain":null,"allowInternetAccess":false,"lifecycle":{"onTimeout":"kill","autoResume":false},
                "network":{"allowOut":["1.1.1.1"],"allowPublicTraffic":true}}"#,
        );
        same::<LooseErrorBody>(r#"{"code":404,"message":"not \"found\"\n"}"#);
        same::<LooseErrorBody>(r#"{"message":"no code"}"#);
        same::<Vec<StringMap>>(r#" [ {} , {"k":"v"} ] "#);
        same::<Vec<i64>>("[0,-1,-9223372036854775808,9223372036854775807]");
        same::<Vec<u64>>("[18446744073709551615]");
        same::<Vec<f64>>("[1.5,-2e3,1E-2,0.1,-0,1e-400]");
    }

    #[test]
    fn refuses_what_serde_json_refuses() {
        for doc in [
            &b""[..],
            b"{",
            b"[1,]",
            b"[1 2]",
            b"{\"a\":1,}",
            b"{\"a\" 1}",
            b"{a:1}",
            b"[01]",
            b"[1.]",
            b"[1e]",
            b"[-]",
            b"[\"\\x\"]",
            b"[\"a\nb\"]",
            b"[nul]",
            b"[] []",
        ] {
            fails::<Vec<serde::de::IgnoredAny>>(doc);
        }
        // serde_json checks ranges, surrogates and UTF-8 only in values it keeps.
        assert_eq!(
            fails::<Vec<f64>>(b"[1e400]"),
            "number out of range at byte 1"
        );
        for doc in [
            &b"[\"\\ud800\"]"[..],
            b"[\"\\udc00x\"]",
            b"[\"\\ud800\\u0041\"]",
            b"[\"\xff\"]",
        ] {
            fails::<Vec<String>>(doc);
        }
        let deep = "[".repeat(200) + &"]".repeat(200);
        assert!(from_slice::<serde::de::IgnoredAny>(deep.as_bytes()).is_err());
        // Every nesting level up to the limit is fine.
        let ok = "[".repeat(100) + &"]".repeat(100);
        from_slice::<serde::de::IgnoredAny>(ok.as_bytes()).unwrap();
    }

    #[test]
    fn errors_name_the_kind_and_place() {
        let msg = fails::<LooseErrorBody>(br#"{"code":1.5}"#);
        assert_eq!(msg, "invalid type: a number, expected u16 at byte 11");
        let msg = fails::<LooseErrorBody>(br#"{"code":70000}"#);
        assert!(
            msg.starts_with("invalid value: 70000, expected u16"),
            "{msg}"
        );
        let msg = fails::<ListedSandbox>(br#"{"state":"gone"}"#);
        assert!(msg.contains("unknown variant `gone`"), "{msg}");
        let msg = fails::<ListedSandbox>(br#"{"sandboxID":"x"}"#);
        assert!(msg.contains("missing field"), "{msg}");
        let msg = fails::<LooseErrorBody>(br#"{"code":1} x"#);
        assert_eq!(msg, "trailing characters at byte 11");
    }
}
