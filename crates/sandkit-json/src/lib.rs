//! The byte-level half of sandkit's JSON: the lexing (where a run of plain string bytes ends,
//! numbers, literals), the fast path's forward reader ([`Tokens`]), strings quoted as JSON,
//! numbers in decimal, and the writer of whole documents; and, with them, the fast path's
//! reading of a listing's page ([`listing`]). The tree reader is `sandkit::json`, which
//! re-exports what its users need of this.
//!
//! A crate of its own so that the wasm build can compile it for speed (see the workspace's
//! `Cargo.toml`) while the rest of the module is compiled for size: these are the loops a
//! listing's pages run through, byte by byte, on the way in and out.

use std::collections::BTreeMap;

pub mod listing;

/// How many bytes at the start of `rest` need no look in a string: none is a quote, a
/// backslash or a control character. Eight at a time (a long string, such as base64 command
/// output, is read at memory speed instead of a branch per byte), and exact: the first byte
/// past the run is one of those, or the end.
pub fn plain_run(rest: &[u8]) -> usize {
    const ONES: u64 = 0x0101_0101_0101_0101;
    const HIGH: u64 = 0x8080_8080_8080_8080;
    let zero_byte = |v: u64| v.wrapping_sub(ONES) & !v & HIGH;
    let mut n = 0;
    // Plain indexing: compiled for size, iterator adaptors stay calls.
    while n + 8 <= rest.len() {
        let b = &rest[n..n + 8];
        let w = u64::from_le_bytes([b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7]]);
        let special = zero_byte(w ^ (ONES * u64::from(b'"')))
            | zero_byte(w ^ (ONES * u64::from(b'\\')))
            | (w.wrapping_sub(ONES * 0x20) & !w & HIGH);
        if special != 0 {
            // The lowest flag marks the first special byte: a flag can be wrong only above a
            // byte that really is special, where the subtraction borrowed.
            return n + (special.trailing_zeros() / 8) as usize;
        }
        n += 8;
    }
    while let Some(&b) = rest.get(n) {
        if b == b'"' || b == b'\\' || b < 0x20 {
            break;
        }
        n += 1;
    }
    n
}

// ── lexing ───────────────────────────────────────────────────────────────────────────────

/// A JSON text and a place in it: the lexing that both readers (this crate's [`Tokens`] and
/// `sandkit::json`'s tree parser) share.
pub struct Cursor<'a> {
    pub input: &'a [u8],
    pub pos: usize,
}

impl<'a> Cursor<'a> {
    pub fn skip_whitespace(&mut self) {
        while let Some(b' ' | b'\t' | b'\n' | b'\r') = self.input.get(self.pos) {
            self.pos += 1;
        }
    }

    /// Consumes `word` if it comes next.
    pub fn literal(&mut self, word: &[u8]) -> bool {
        let found = self
            .input
            .get(self.pos..)
            .is_some_and(|s| s.starts_with(word));
        if found {
            self.pos += word.len();
        }
        found
    }

    fn digits(&mut self) -> usize {
        let start = self.pos;
        while self.input.get(self.pos).is_some_and(u8::is_ascii_digit) {
            self.pos += 1;
        }
        self.pos - start
    }

    /// A number's text, at a `-` or a digit, if it follows the grammar:
    /// `-? (0 | [1-9][0-9]*) (. [0-9]+)? ([eE] [+-]? [0-9]+)?`.
    pub fn number(&mut self) -> Option<&'a [u8]> {
        let start = self.pos;
        if self.input.get(self.pos) == Some(&b'-') {
            self.pos += 1;
        }
        let int_start = self.pos;
        let int_len = self.digits();
        let mut ok = int_len == 1 || (int_len > 1 && self.input.get(int_start) != Some(&b'0'));
        if self.input.get(self.pos) == Some(&b'.') {
            self.pos += 1;
            ok &= self.digits() > 0;
        }
        if let Some(b'e' | b'E') = self.input.get(self.pos) {
            self.pos += 1;
            if let Some(b'+' | b'-') = self.input.get(self.pos) {
                self.pos += 1;
            }
            ok &= self.digits() > 0;
        }
        ok.then(|| self.input.get(start..self.pos)).flatten()
    }
}

// ── reading tokens ───────────────────────────────────────────────────────────────────────

/// A forward reader over one document, for a fast path that builds no tree: it gives up
/// (`None`) at anything it does not handle, and the caller then reads the same bytes with
/// `sandkit::json::parse`, which decides. The document has been checked as UTF-8 as a whole, so a string
/// is a slice of it, not a check of its own.
pub struct Tokens<'a> {
    text: &'a str,
    c: Cursor<'a>,
}

impl<'a> Tokens<'a> {
    pub fn new(text: &'a str) -> Self {
        Tokens {
            text,
            c: Cursor {
                input: text.as_bytes(),
                pos: 0,
            },
        }
    }

    /// The next significant byte, not consumed.
    fn peek(&mut self) -> Option<u8> {
        self.c.skip_whitespace();
        self.c.input.get(self.c.pos).copied()
    }

    /// Consumes `byte` if it is the next significant one.
    pub fn eat(&mut self, byte: u8) -> Option<bool> {
        let found = self.peek()? == byte;
        self.c.pos += usize::from(found);
        Some(found)
    }

    /// Consumes `null` if it comes next.
    pub fn null(&mut self) -> Option<bool> {
        if self.peek()? != b'n' {
            return Some(false);
        }
        Some(self.c.literal(b"null")).filter(|found| *found)
    }

    /// The next value, which must be a string without escapes.
    pub fn plain_string(&mut self) -> Option<&'a str> {
        if self.peek()? != b'"' {
            return None;
        }
        let input = self.c.input;
        let start = self.c.pos + 1;
        let pos = start + plain_run(input.get(start..)?);
        // A backslash, a control character or the end: the full reader decides.
        if *input.get(pos)? != b'"' {
            return None;
        }
        self.c.pos = pos + 1;
        self.text.get(start..pos)
    }

    /// The next value, which must be a whole number that fits a `u32`, written as digits.
    pub fn u32(&mut self) -> Option<u32> {
        if !self.peek()?.is_ascii_digit() {
            return None;
        }
        let digits = self.c.number()?;
        digits.iter().try_fold(0u32, |acc, &d| {
            if !d.is_ascii_digit() {
                return None;
            }
            acc.checked_mul(10)?.checked_add(u32::from(d - b'0'))
        })
    }

    /// The next value, which must be an object: `member` reads each member's value, given
    /// its key (a string without escapes).
    pub fn object(
        &mut self,
        mut member: impl FnMut(&mut Self, &'a str) -> Option<()>,
    ) -> Option<()> {
        self.list(b'{', b'}', |t| {
            let key = t.plain_string()?;
            t.eat(b':')?.then_some(())?;
            member(t, key)
        })
    }

    /// The next value, which must be an array: `item` reads each item.
    pub fn array(&mut self, item: impl FnMut(&mut Self) -> Option<()>) -> Option<()> {
        self.list(b'[', b']', item)
    }

    fn list(
        &mut self,
        open: u8,
        close: u8,
        mut each: impl FnMut(&mut Self) -> Option<()>,
    ) -> Option<()> {
        self.eat(open)?.then_some(())?;
        if self.eat(close)? {
            return Some(());
        }
        loop {
            each(self)?;
            if self.eat(close)? {
                return Some(());
            }
            self.eat(b',')?.then_some(())?;
        }
    }

    /// Reads past the next value, whatever it is, with `end`: given the text and where the
    /// value starts, it says where the value ends (`None`: not a value).
    pub fn skip_value(&mut self, end: impl FnOnce(&'a [u8], usize) -> Option<usize>) -> Option<()> {
        self.peek()?;
        self.c.pos = end(self.c.input, self.c.pos)?;
        Some(())
    }

    /// Whether only whitespace is left.
    pub fn at_end(&mut self) -> bool {
        self.c.skip_whitespace();
        self.c.pos == self.c.input.len()
    }
}

// ── writing ──────────────────────────────────────────────────────────────────────────────

/// `n` in decimal, without `core::fmt`.
pub fn decimal(n: u64) -> String {
    let mut out = String::new();
    decimal_into(&mut out, n);
    out
}

/// Appends `n` in decimal.
pub fn decimal_into(out: &mut String, mut n: u64) {
    let mut digits = [0u8; 20];
    let mut i = digits.len();
    loop {
        i -= 1;
        digits[i] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    out.push_str(std::str::from_utf8(&digits[i..]).unwrap_or_default());
}

/// Appends the ASCII byte `b`: `String::push` encodes a `char` first, which in the
/// size-optimised wasm build is a call and a branch for every comma and quote written.
#[inline(always)]
fn push_ascii(out: &mut String, b: u8) {
    debug_assert!(b.is_ascii());
    // SAFETY: an ASCII byte is a whole UTF-8 character.
    unsafe { out.as_mut_vec() }.push(b);
}

/// Appends `s` as a JSON string, escaped as serde_json escapes it.
pub fn quote_into(out: &mut String, s: &str) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let bytes = s.as_bytes();
    out.reserve(bytes.len() + 2);
    push_ascii(out, b'"');
    // Written up to `run`; looked at up to `i`. Past each plain run comes a byte to escape.
    let (mut run, mut i) = (0, 0);
    while i < bytes.len() {
        i += plain_run(bytes.get(i..).unwrap_or_default());
        let Some(&b) = bytes.get(i) else { break };
        let short = match b {
            b'"' => b'"',
            b'\\' => b'\\',
            b'\n' => b'n',
            b'\r' => b'r',
            b'\t' => b't',
            0x08 => b'b',
            0x0c => b'f',
            _ => b'u',
        };
        // `get`: slicing with `[]` would bring the panic message of a bad char boundary (and
        // with it `char`'s Debug formatting) into wasm; these are ASCII positions anyway.
        out.push_str(s.get(run..i).unwrap_or_default());
        push_ascii(out, b'\\');
        push_ascii(out, short);
        if short == b'u' {
            out.push_str("00");
            push_ascii(out, HEX[usize::from(b >> 4)]);
            push_ascii(out, HEX[usize::from(b & 15)]);
        }
        i += 1;
        run = i;
    }
    out.push_str(s.get(run..).unwrap_or_default());
    push_ascii(out, b'"');
}

/// `s` as a JSON string.
pub fn quote(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    quote_into(&mut out, s);
    out
}

/// Writes one JSON document, compact, with members in the order they are written.
#[derive(Debug, Default)]
pub struct Writer {
    out: String,
    /// Whether the next value or key needs a comma before it.
    comma: bool,
}

impl Writer {
    pub fn new() -> Self {
        Writer::default()
    }

    /// A writer whose output will be about `bytes` long: it grows once, not as it goes.
    pub fn with_capacity(bytes: usize) -> Self {
        Writer {
            out: String::with_capacity(bytes),
            comma: false,
        }
    }

    fn separate(&mut self) {
        if self.comma {
            push_ascii(&mut self.out, b',');
        }
        self.comma = true;
    }

    fn raw(&mut self, text: &str) {
        self.separate();
        self.out.push_str(text);
    }

    pub fn begin_object(&mut self) {
        self.raw("{");
        self.comma = false;
    }

    pub fn end_object(&mut self) {
        push_ascii(&mut self.out, b'}');
        self.comma = true;
    }

    pub fn begin_array(&mut self) {
        self.raw("[");
        self.comma = false;
    }

    pub fn end_array(&mut self) {
        push_ascii(&mut self.out, b']');
        self.comma = true;
    }

    /// A member's name; its value comes next.
    pub fn key(&mut self, key: &str) {
        self.separate();
        quote_into(&mut self.out, key);
        push_ascii(&mut self.out, b':');
        self.comma = false;
    }

    /// A member's name known to hold nothing to escape (see [`Writer::plain_str`]).
    pub fn plain_key(&mut self, key: &str) {
        self.plain_str(key);
        push_ascii(&mut self.out, b':');
        self.comma = false;
    }

    pub fn str(&mut self, s: &str) {
        self.separate();
        quote_into(&mut self.out, s);
    }

    /// `s`, known to hold nothing to escape (no quote, backslash or control character), as a
    /// JSON string: copied without a look. What [`Tokens::plain_string`] gives qualifies.
    pub fn plain_str(&mut self, s: &str) {
        debug_assert_eq!(plain_run(s.as_bytes()), s.len(), "{s:?} needs escapes");
        self.separate();
        self.out.reserve(s.len() + 2);
        push_ascii(&mut self.out, b'"');
        self.out.push_str(s);
        push_ascii(&mut self.out, b'"');
    }

    pub fn bool(&mut self, b: bool) {
        self.raw(if b { "true" } else { "false" });
    }

    pub fn u64(&mut self, n: u64) {
        self.separate();
        decimal_into(&mut self.out, n);
    }

    pub fn i64(&mut self, n: i64) {
        self.separate();
        if n < 0 {
            push_ascii(&mut self.out, b'-');
        }
        decimal_into(&mut self.out, n.unsigned_abs());
    }

    pub fn strings(&mut self, items: &[String]) {
        self.begin_array();
        for s in items {
            self.str(s);
        }
        self.end_array();
    }

    pub fn string_map(&mut self, map: &BTreeMap<String, String>) {
        self.begin_object();
        for (k, v) in map {
            self.key(k);
            self.str(v);
        }
        self.end_object();
    }

    // Members, their names known to hold nothing to escape (the SDK's own names): written
    // with `plain_key`. A name from elsewhere goes through `key`, then the value.

    pub fn field_str(&mut self, key: &str, value: &str) {
        self.plain_key(key);
        self.str(value);
    }

    /// Left out when `None`, as `skip_serializing_if = "Option::is_none"` does.
    pub fn field_opt_str(&mut self, key: &str, value: Option<&str>) {
        if let Some(v) = value {
            self.field_str(key, v);
        }
    }

    pub fn field_bool(&mut self, key: &str, value: bool) {
        self.plain_key(key);
        self.bool(value);
    }

    pub fn field_opt_bool(&mut self, key: &str, value: Option<bool>) {
        if let Some(v) = value {
            self.field_bool(key, v);
        }
    }

    pub fn field_u64(&mut self, key: &str, value: u64) {
        self.plain_key(key);
        self.u64(value);
    }

    pub fn field_opt_i64(&mut self, key: &str, value: Option<i64>) {
        if let Some(v) = value {
            self.plain_key(key);
            self.i64(v);
        }
    }

    pub fn field_opt_strings(&mut self, key: &str, value: Option<&[String]>) {
        if let Some(v) = value {
            self.plain_key(key);
            self.strings(v);
        }
    }

    pub fn field_opt_map(&mut self, key: &str, value: Option<&BTreeMap<String, String>>) {
        if let Some(v) = value {
            self.plain_key(key);
            self.string_map(v);
        }
    }

    /// The document so far.
    pub fn finish(self) -> String {
        self.out
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_plain_run_ends_exactly_at_the_first_byte_to_look_at() {
        // Every special byte at every offset, after plain bytes of every kind (high bytes
        // included: the word tricks must not take them for special), with more after it.
        let plain = "aé~ \u{7f}\u{ff}Z9".repeat(4);
        for special in [b'"', b'\\', 0, 0x1f, b'\n'] {
            for at in 0..plain.len() {
                let mut bytes = plain.as_bytes()[..at].to_vec();
                bytes.push(special);
                bytes.extend_from_slice(b"\"\\\x01 tail");
                assert_eq!(super::plain_run(&bytes), at, "{special} at {at}");
            }
        }
        assert_eq!(super::plain_run(plain.as_bytes()), plain.len());
        assert_eq!(super::plain_run(b""), 0);
    }

    #[test]
    fn plain_strings_and_keys_are_written_as_quoting_writes_them() {
        for s in [
            "",
            "sandboxId",
            "aé~ \u{7f}\u{ff}Z9",
            "2026-12-06T13:05:01.123Z",
        ] {
            let (mut plain, mut quoted) = (super::Writer::new(), super::Writer::new());
            plain.begin_object();
            plain.plain_key(s);
            plain.plain_str(s);
            quoted.begin_object();
            quoted.key(s);
            quoted.str(s);
            assert_eq!(plain.finish(), quoted.finish(), "{s:?}");
        }
    }
}
