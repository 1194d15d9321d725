//! The daemon's binary codec (protobuf) for the process streams only: the `Start` and
//! `Connect` requests out, their `ProcessEvent`s in. Output bytes then travel raw, where the
//! JSON codec carries them in base64 inside JSON. Written by hand for these few messages (a
//! protobuf crate would weigh on the browser bundle); field numbers are `process.proto`'s.
//!
//! Reading never indexes past the input: every truncation or bad length is an [`Error`], and
//! fields this SDK does not know are skipped, as protobuf requires.

use crate::commands::Output;
use crate::error::{Error, ErrorKind, Result};
use bytes::Bytes;
use std::collections::BTreeMap;

const VARINT: u8 = 0;
const FIXED64: u8 = 1;
const LEN: u8 = 2;
const FIXED32: u8 = 5;

// ── writing ─────────────────────────────────────────────────────────────────────────────

/// A message being written, field after field.
#[derive(Default)]
struct Writer(Vec<u8>);

impl Writer {
    fn varint(&mut self, mut v: u64) {
        while v >= 0x80 {
            self.0.push(v as u8 | 0x80);
            v >>= 7;
        }
        self.0.push(v as u8);
    }

    fn tag(&mut self, number: u32, wire: u8) {
        self.varint(u64::from(number) << 3 | u64::from(wire));
    }

    fn uint(&mut self, number: u32, v: u64) {
        self.tag(number, VARINT);
        self.varint(v);
    }

    fn bytes(&mut self, number: u32, b: &[u8]) {
        self.tag(number, LEN);
        self.varint(b.len() as u64);
        self.0.extend_from_slice(b);
    }

    /// A nested message, written by `f` (these are small: written aside, then copied in).
    fn message(&mut self, number: u32, f: impl FnOnce(&mut Writer)) {
        let mut inner = Writer::default();
        f(&mut inner);
        self.bytes(number, &inner.0);
    }
}

/// What a `StartRequest` asks for (`process.proto`).
pub(crate) struct Start<'a> {
    pub args: &'a [&'a str],
    pub envs: &'a BTreeMap<String, String>,
    pub cwd: Option<&'a str>,
    /// A terminal's `cols` and `rows`.
    pub pty: Option<(u16, u16)>,
    pub tag: Option<&'a str>,
    /// Sent only when set: unset and `true` both mean a pipe, `false` means `/dev/null`.
    pub stdin: Option<bool>,
}

/// `StartRequest{process=1: ProcessConfig{cmd=1, args=2, envs=3, cwd=4}, pty=2:
/// {size=1: {cols=1, rows=2}}, tag=3, stdin=4}`, the command being `/bin/bash`.
pub(crate) fn start_request(s: &Start<'_>) -> Vec<u8> {
    let mut w = Writer::default();
    w.message(1, |p| {
        p.bytes(1, b"/bin/bash");
        for a in s.args {
            p.bytes(2, a.as_bytes());
        }
        for (k, v) in s.envs {
            p.message(3, |e| {
                e.bytes(1, k.as_bytes());
                e.bytes(2, v.as_bytes());
            });
        }
        if let Some(cwd) = s.cwd {
            p.bytes(4, cwd.as_bytes());
        }
    });
    if let Some((cols, rows)) = s.pty {
        w.message(2, |p| {
            p.message(1, |size| {
                size.uint(1, cols.into());
                size.uint(2, rows.into());
            })
        });
    }
    if let Some(tag) = s.tag {
        w.bytes(3, tag.as_bytes());
    }
    if let Some(stdin) = s.stdin {
        w.uint(4, stdin.into());
    }
    w.0
}

/// `ConnectRequest{process=1: ProcessSelector{pid=1}}`.
pub(crate) fn connect_request(pid: u32) -> Vec<u8> {
    let mut w = Writer::default();
    w.message(1, |s| s.uint(1, pid.into()));
    w.0
}

// ── reading ─────────────────────────────────────────────────────────────────────────────

fn malformed(what: &str) -> Error {
    Error::new(
        ErrorKind::Sandbox,
        format!("the sandbox's daemon sent a message the SDK cannot read: {what}"),
    )
}

/// A cursor over one message's bytes.
struct Reader<'a> {
    buf: &'a [u8],
}

/// A field's value as it came off the wire (fixed-width ones are only ever skipped).
enum Wire<'a> {
    Varint(u64),
    Len(&'a [u8]),
    Fixed,
}

impl<'a> Reader<'a> {
    fn varint(&mut self) -> Result<u64> {
        let mut v = 0u64;
        for shift in (0..70).step_by(7) {
            let Some((&b, rest)) = self.buf.split_first() else {
                return Err(malformed("a truncated varint"));
            };
            self.buf = rest;
            v |= u64::from(b & 0x7f) << shift;
            if b & 0x80 == 0 {
                return Ok(v);
            }
        }
        Err(malformed("a varint longer than 10 bytes"))
    }

    fn take(&mut self, n: u64) -> Result<&'a [u8]> {
        let n = usize::try_from(n).map_err(|_| malformed("a length out of range"))?;
        if n > self.buf.len() {
            return Err(malformed("a truncated field"));
        }
        let (head, rest) = self.buf.split_at(n);
        self.buf = rest;
        Ok(head)
    }

    /// The next field's number and value; `None` at the end of the message.
    fn field(&mut self) -> Result<Option<(u64, Wire<'a>)>> {
        if self.buf.is_empty() {
            return Ok(None);
        }
        let key = self.varint()?;
        let value = match (key & 7) as u8 {
            VARINT => Wire::Varint(self.varint()?),
            LEN => {
                let n = self.varint()?;
                Wire::Len(self.take(n)?)
            }
            FIXED64 => self.take(8).map(|_| Wire::Fixed)?,
            FIXED32 => self.take(4).map(|_| Wire::Fixed)?,
            _ => return Err(malformed("a field of an unsupported wire type")),
        };
        if key >> 3 == 0 {
            return Err(malformed("a field numbered 0"));
        }
        Ok(Some((key >> 3, value)))
    }
}

/// The fields of `buf`: `(number, value)`, unknown numbers included.
fn fields(buf: &[u8], mut each: impl FnMut(u64, Wire<'_>) -> Result<()>) -> Result<()> {
    let mut r = Reader { buf };
    while let Some((number, value)) = r.field()? {
        each(number, value)?;
    }
    Ok(())
}

fn nested<'a>(w: Wire<'a>, what: &str) -> Result<&'a [u8]> {
    match w {
        Wire::Len(b) => Ok(b),
        _ => Err(malformed(what)),
    }
}

fn varint(w: Wire<'_>, what: &str) -> Result<u64> {
    match w {
        Wire::Varint(v) => Ok(v),
        _ => Err(malformed(what)),
    }
}

fn text(b: &[u8], what: &str) -> Result<String> {
    String::from_utf8(b.to_vec()).map_err(|_| malformed(what))
}

/// What one message of a process stream says.
#[derive(Debug, PartialEq, Eq)]
pub enum Event {
    Start(u32),
    /// Output, sliced out of the message (not copied).
    Data(Output),
    /// The exit code and the error (`exit status 1`, `signal: killed`).
    End(i32, Option<String>),
    /// A keepalive, or no event at all.
    Nothing,
}

/// Reads a `StartResponse` / `ConnectResponse`: `{event=1: ProcessEvent}`, whose oneof is
/// `start=1{pid=1}`, `data=2{stdout=1|stderr=2|pty=3}`, `end=3{exit_code=1 (sint32),
/// exited=2, status=3, error=4}`, `keepalive=4{}`. Of members sent twice the last counts, as
/// protobuf has it for a oneof.
pub fn process_event(msg: &Bytes) -> Result<Event> {
    let mut event = Event::Nothing;
    fields(msg, |n, w| {
        if n == 1 {
            event = event_of(msg, nested(w, "an event that is not a message")?)?;
        }
        Ok(())
    })?;
    Ok(event)
}

fn event_of(msg: &Bytes, buf: &[u8]) -> Result<Event> {
    let mut event = Event::Nothing;
    fields(buf, |n, w| {
        let bad = "an event member that is not a message";
        match n {
            1 => event = Event::Start(start_pid(nested(w, bad)?)?),
            2 => event = data(msg, nested(w, bad)?)?.unwrap_or(Event::Nothing),
            3 => event = end(nested(w, bad)?)?,
            4 => event = Event::Nothing,
            _ => {}
        }
        Ok(())
    })?;
    Ok(event)
}

fn start_pid(buf: &[u8]) -> Result<u32> {
    let mut pid = 0;
    fields(buf, |n, w| {
        if n == 1 {
            // Protobuf reads a uint32 from the low 32 bits.
            pid = varint(w, "a pid that is not a number")? as u32;
        }
        Ok(())
    })?;
    Ok(pid)
}

fn data(msg: &Bytes, buf: &[u8]) -> Result<Option<Event>> {
    let mut out = None;
    fields(buf, |n, w| {
        let kind: fn(Bytes) -> Output = match n {
            1 => Output::Stdout,
            2 => Output::Stderr,
            3 => Output::Pty,
            _ => return Ok(()),
        };
        let b = nested(w, "output that is not bytes")?;
        // `b` lies within `msg` (it was read out of it), so this slices without copying.
        out = Some(Event::Data(kind(msg.slice_ref(b))));
        Ok(())
    })?;
    Ok(out)
}

fn end(buf: &[u8]) -> Result<Event> {
    let (mut code, mut error) = (0, None);
    fields(buf, |n, w| {
        match n {
            1 => {
                // sint32: zigzag over the low 32 bits.
                let z = varint(w, "an exit code that is not a number")? as u32;
                code = (z >> 1) as i32 ^ -((z & 1) as i32);
            }
            4 => error = Some(text(nested(w, "an error that is not text")?, "bad UTF-8")?),
            _ => {}
        }
        Ok(())
    })?;
    Ok(Event::End(code, error))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn response(event: impl FnOnce(&mut Writer)) -> Bytes {
        let mut w = Writer::default();
        w.message(1, event);
        Bytes::from(w.0)
    }

    fn zigzag(v: i32) -> u64 {
        u64::from(((v << 1) ^ (v >> 31)) as u32)
    }

    /// Every message a process stream carries, each with what it reads as.
    fn samples() -> Vec<(Bytes, Event)> {
        let out = |kind: u32, b: &'static [u8]| response(|e| e.message(2, |d| d.bytes(kind, b)));
        vec![
            (
                response(|e| e.message(1, |s| s.uint(1, 4242))),
                Event::Start(4242),
            ),
            (
                out(1, b"hi\n"),
                Event::Data(Output::Stdout(Bytes::from_static(b"hi\n"))),
            ),
            (
                out(2, b"\xff\x00err"),
                Event::Data(Output::Stderr(Bytes::from_static(b"\xff\x00err"))),
            ),
            (
                out(3, b"\x1b[1m"),
                Event::Data(Output::Pty(Bytes::from_static(b"\x1b[1m"))),
            ),
            (
                response(|e| {
                    e.message(3, |end| {
                        end.uint(1, zigzag(-1));
                        end.uint(2, 0);
                        end.bytes(3, b"signal: killed");
                        end.bytes(4, b"signal: killed");
                    })
                }),
                Event::End(-1, Some("signal: killed".into())),
            ),
            (
                response(|e| {
                    e.message(3, |end| {
                        end.uint(1, zigzag(3));
                        end.uint(2, 1);
                    })
                }),
                Event::End(3, None),
            ),
            (response(|e| e.message(4, |_| {})), Event::Nothing),
            (Bytes::new(), Event::Nothing),
        ]
    }

    #[test]
    fn reads_every_event() {
        for (msg, want) in samples() {
            assert_eq!(process_event(&msg).unwrap(), want, "{msg:?}");
        }
        // A clean exit leaves every zero out: `end {}`.
        let clean = response(|e| e.message(3, |_| {}));
        assert_eq!(process_event(&clean).unwrap(), Event::End(0, None));
        let extreme = response(|e| e.message(3, |end| end.uint(1, zigzag(i32::MIN))));
        assert_eq!(process_event(&extreme).unwrap(), Event::End(i32::MIN, None));
    }

    #[test]
    fn output_is_sliced_out_of_the_message() {
        let msg = response(|e| e.message(2, |d| d.bytes(1, &[7; 100])));
        let Event::Data(Output::Stdout(b)) = process_event(&msg).unwrap() else {
            panic!("stdout");
        };
        let inside = msg.as_ptr_range();
        assert!(inside.contains(&b.as_ptr()), "a slice of the message");
        assert_eq!(&b[..], &[7; 100]);
    }

    #[test]
    fn every_truncation_is_an_error_or_a_shorter_message() {
        for (msg, _) in samples() {
            for cut in 0..msg.len() {
                // Cut inside a field: an error. Cut between the outer fields: a prefix that
                // is itself a valid message (never the case here: one outer field).
                assert!(
                    process_event(&msg.slice(..cut)).is_ok() == (cut == 0),
                    "{msg:?} cut at {cut}"
                );
            }
        }
    }

    #[test]
    fn unknown_fields_are_skipped() {
        let msg = {
            let mut w = Writer::default();
            w.uint(9, 1);
            w.tag(10, FIXED64);
            w.0.extend_from_slice(&[0; 8]);
            w.tag(11, FIXED32);
            w.0.extend_from_slice(&[0; 4]);
            w.message(1, |e| {
                e.bytes(7, b"future");
                e.message(2, |d| {
                    d.uint(5, 3);
                    d.bytes(1, b"x");
                    d.bytes(6, b"y");
                });
            });
            w.bytes(12, b"later");
            Bytes::from(w.0)
        };
        assert_eq!(
            process_event(&msg).unwrap(),
            Event::Data(Output::Stdout(Bytes::from_static(b"x")))
        );
    }

    #[test]
    fn malformed_messages_are_errors() {
        for bad in [
            &[0x0a, 0x05, 0x12][..], // a length past the end
            &[
                0x0a, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01,
            ],
            &[
                0x08, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01,
            ], // endless
            &[0x0b],                                     // a group (wire type 3)
            &[0x00, 0x00],                               // field 0
            &[0x08, 0x01],                               // event as a number
            &[0x0a, 0x02, 0x08, 0x01],                   // start as a number
            &[0x0a, 0x04, 0x12, 0x02, 0x08, 0x01],       // stdout as a number
            &[0x0a, 0x05, 0x1a, 0x03, 0x22, 0x01, 0xff], // error not UTF-8
        ] {
            assert!(
                process_event(&Bytes::copy_from_slice(bad)).is_err(),
                "{bad:?}"
            );
        }
    }

    /// Reads a `StartRequest` back the way the daemon does, as (number, bytes) pairs.
    fn top_fields(buf: &[u8]) -> Vec<(u64, Vec<u8>)> {
        let mut out = Vec::new();
        fields(buf, |n, w| {
            out.push((
                n,
                match w {
                    Wire::Len(b) => b.to_vec(),
                    Wire::Varint(v) => vec![v as u8],
                    Wire::Fixed => vec![],
                },
            ));
            Ok(())
        })
        .unwrap();
        out
    }

    #[test]
    fn writes_start_and_connect_requests() {
        let envs = BTreeMap::from([("A".to_string(), "1".to_string())]);
        let req = start_request(&Start {
            args: &["-l", "-c", "echo"],
            envs: &envs,
            cwd: Some("/tmp"),
            pty: Some((80, 24)),
            tag: Some("t"),
            stdin: Some(false),
        });
        let top = top_fields(&req);
        assert_eq!(
            top.iter().map(|(n, _)| *n).collect::<Vec<_>>(),
            [1, 2, 3, 4]
        );
        assert_eq!(
            top_fields(&top[0].1),
            [
                (1, b"/bin/bash".to_vec()),
                (2, b"-l".to_vec()),
                (2, b"-c".to_vec()),
                (2, b"echo".to_vec()),
                (3, vec![0x0a, 1, b'A', 0x12, 1, b'1']),
                (4, b"/tmp".to_vec()),
            ]
        );
        assert_eq!(top[1].1, [0x0a, 0x04, 0x08, 80, 0x10, 24]);
        assert_eq!(
            (top[2].1.as_slice(), top[3].1.as_slice()),
            (&b"t"[..], &[0][..])
        );
        // Unset options are left out; a set `stdin: false` is not.
        let bare = start_request(&Start {
            args: &[],
            envs: &BTreeMap::new(),
            cwd: None,
            pty: None,
            tag: None,
            stdin: None,
        });
        assert_eq!(
            bare,
            [
                0x0a, 0x0b, 0x0a, 0x09, b'/', b'b', b'i', b'n', b'/', b'b', b'a', b's', b'h'
            ]
        );
        assert_eq!(connect_request(300), [0x0a, 0x03, 0x08, 0xac, 0x02]);
        assert_eq!(connect_request(0), [0x0a, 0x02, 0x08, 0x00]);
    }
}
