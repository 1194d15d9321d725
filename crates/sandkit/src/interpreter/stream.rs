//! The `/execute` answer: newline-delimited JSON, one event per line, read as it arrives.

use crate::error::{Error, ErrorKind, Result};
use crate::json::{self, Value};

/// One event of an execution, in the order the interpreter sent it.
#[derive(Debug, Clone, PartialEq)]
pub enum CodeEvent {
    Stdout(String),
    Stderr(String),
    Result(CodeResult),
    Error(ExecutionError),
    /// How many executions the context has run, this one included.
    ExecutionCount(u32),
}

/// A value the code produced: its main result (the last expression's value), or something it
/// displayed. Its formats are fields of `raw_json`, as the interpreter sent them.
#[derive(Debug, Clone, PartialEq)]
pub struct CodeResult {
    pub is_main_result: bool,
    /// The line's object without `type` and `is_main_result`: the formats (`text`, `html`,
    /// `png`, …), `data`, `chart`, `extra` and anything else the interpreter added.
    pub raw_json: String,
    /// Its `text` format, the one every result has.
    pub text: Option<String>,
}

/// An exception the code raised.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExecutionError {
    pub name: String,
    pub value: String,
    pub traceback: String,
}

/// Splits a byte stream into lines, whatever the chunk boundaries.
#[derive(Debug, Default)]
pub struct LineSplitter {
    partial: Vec<u8>,
}

impl LineSplitter {
    /// Adds `chunk`; every complete line so far, without its newline.
    pub fn push(&mut self, chunk: &[u8]) -> Vec<Vec<u8>> {
        let mut lines = Vec::new();
        let mut rest = chunk;
        while let Some(at) = rest.iter().position(|b| *b == b'\n') {
            let mut line = std::mem::take(&mut self.partial);
            line.extend_from_slice(&rest[..at]);
            lines.push(line);
            rest = &rest[at + 1..];
        }
        self.partial.extend_from_slice(rest);
        lines
    }

    /// What is left after the last newline, at the end of the stream (a last line without
    /// one counts, as the official client counts it).
    pub fn finish(&mut self) -> Option<Vec<u8>> {
        (!self.partial.is_empty()).then(|| std::mem::take(&mut self.partial))
    }
}

/// Is this the `end_of_execution` line, which the interpreter always writes last? Without it,
/// an answer that ends was cut short.
pub fn is_end(line: &[u8]) -> bool {
    const TYPE: &[u8] = b"end_of_execution";
    line.windows(TYPE.len()).any(|w| w == TYPE)
        && json::parse(line).is_ok_and(|v| {
            v.object()
                .and_then(|o| o.str("type"))
                .is_ok_and(|t| t == "end_of_execution")
        })
}

/// The event on one line; `None` for lines that carry nothing for the caller (the end of
/// the execution, keepalives, an empty line, a type this SDK does not know).
pub fn parse_line(line: &[u8]) -> Result<Option<CodeEvent>> {
    if line.iter().all(u8::is_ascii_whitespace) {
        return Ok(None);
    }
    let unreadable =
        |e: json::JsonError| Error::new(ErrorKind::Sandbox, format!("unreadable output line: {e}"));
    let value = json::parse(line).map_err(unreadable)?;
    event(&value).map_err(unreadable)
}

fn event(value: &Value<'_>) -> std::result::Result<Option<CodeEvent>, json::JsonError> {
    let o = value.object()?;
    let text = || o.str_or_empty("text").map(str::to_string);
    Ok(Some(match o.str("type")? {
        "stdout" => CodeEvent::Stdout(text()?),
        "stderr" => CodeEvent::Stderr(text()?),
        "error" => CodeEvent::Error(ExecutionError {
            name: o.str_or_empty("name")?.into(),
            value: o.str_or_empty("value")?.into(),
            traceback: o.str_or_empty("traceback")?.into(),
        }),
        "number_of_executions" => CodeEvent::ExecutionCount(o.req("execution_count")?.u32()?),
        "result" => CodeEvent::Result(CodeResult {
            is_main_result: o.opt_bool("is_main_result")?.unwrap_or(false),
            raw_json: without_keys(value, &["type", "is_main_result"])?,
            text: o.opt_str("text")?.map(str::to_string),
        }),
        _ => return Ok(None),
    }))
}

/// The object written again without the `drop`ped keys.
fn without_keys(value: &Value<'_>, drop: &[&str]) -> std::result::Result<String, json::JsonError> {
    let mut out = String::from("{");
    for (key, member) in value.members()? {
        if drop.contains(&key) {
            continue;
        }
        if out.len() > 1 {
            out.push(',');
        }
        json::quote_into(&mut out, key);
        out.push(':');
        member.write_to(&mut out);
    }
    out.push('}');
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_survive_any_chunking() {
        let text = b"{\"type\":\"stdout\",\"text\":\"a\\n\"}\n{\"type\":\"end_of_execution\"}\n";
        for cut in 0..text.len() {
            let mut splitter = LineSplitter::default();
            let mut lines = splitter.push(&text[..cut]);
            lines.extend(splitter.push(&text[cut..]));
            assert_eq!(lines.len(), 2, "cut at {cut}");
            assert_eq!(splitter.finish(), None);
        }
        let mut splitter = LineSplitter::default();
        assert!(splitter.push(b"{\"type\":").is_empty());
        assert_eq!(splitter.finish().as_deref(), Some(&b"{\"type\":"[..]));
    }

    #[test]
    fn events_as_the_official_client_reads_them() {
        let line = |s: &str| parse_line(s.as_bytes()).unwrap();
        assert_eq!(
            line(r#"{"type":"stdout","text":"hi\n","timestamp":"2026-01-01T00:00:00Z"}"#),
            Some(CodeEvent::Stdout("hi\n".into()))
        );
        assert_eq!(
            line(r#"{"type":"stderr","text":"oops"}"#),
            Some(CodeEvent::Stderr("oops".into()))
        );
        assert_eq!(
            line(r#"{"type":"number_of_executions","execution_count":3}"#),
            Some(CodeEvent::ExecutionCount(3))
        );
        assert_eq!(
            line(
                r#"{"type":"error","name":"ZeroDivisionError","value":"division by zero","traceback":"T"}"#
            ),
            Some(CodeEvent::Error(ExecutionError {
                name: "ZeroDivisionError".into(),
                value: "division by zero".into(),
                traceback: "T".into(),
            }))
        );
        let result = line(
            r#"{"type":"result","text":"2","is_main_result":true,"png":"iVBOR","data":{"a":[1,{"b":null}]},"x-extra":"é"}"#,
        );
        assert_eq!(
            result,
            Some(CodeEvent::Result(CodeResult {
                is_main_result: true,
                raw_json: r#"{"text":"2","png":"iVBOR","data":{"a":[1,{"b":null}]},"x-extra":"é"}"#
                    .into(),
                text: Some("2".into()),
            }))
        );
        for quiet in [
            r#"{"type":"end_of_execution"}"#,
            r#"{"type":"keepalive"}"#,
            r#"{"type":"something_new","x":1}"#,
            "",
            "  ",
        ] {
            assert_eq!(line(quiet), None, "{quiet}");
        }
        for bad in [
            "{",
            "[]",
            r#"{"type":1}"#,
            r#"{"type":"number_of_executions"}"#,
        ] {
            let e = parse_line(bad.as_bytes()).unwrap_err();
            assert_eq!(e.kind(), ErrorKind::Sandbox, "{bad}");
        }
    }
}
