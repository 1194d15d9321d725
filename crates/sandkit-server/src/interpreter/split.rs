//! Splits what a driver writes into plain output and protocol lines (0x1E, JSON, newline).
//! Plain output is passed on as soon as it is read, never held for a newline; only a UTF-8
//! sequence cut by a read, or a protocol line not yet complete, waits for the next read.

const MARK: u8 = 0x1e;
/// A protocol line longer than this (a huge image) is dropped rather than held without end.
const MAX_MESSAGE: usize = 64 * 1024 * 1024;

#[derive(Debug, PartialEq)]
pub enum Piece {
    Text(String),
    Message(Vec<u8>),
}

#[derive(Default)]
pub struct Splitter {
    /// Bytes of a protocol line begun (its mark included) or of a cut UTF-8 sequence.
    pending: Vec<u8>,
    in_message: bool,
}

impl Splitter {
    pub fn push(&mut self, mut data: &[u8]) -> Vec<Piece> {
        let mut out = Vec::new();
        while !data.is_empty() {
            if self.in_message {
                match data.iter().position(|b| *b == b'\n') {
                    Some(end) => {
                        self.pending.extend_from_slice(&data[..end]);
                        let msg = std::mem::take(&mut self.pending);
                        if msg.len() <= MAX_MESSAGE {
                            out.push(Piece::Message(msg));
                        }
                        self.in_message = false;
                        data = &data[end + 1..];
                    }
                    None => {
                        if self.pending.len() + data.len() <= MAX_MESSAGE + 1 {
                            self.pending.extend_from_slice(data);
                        } else {
                            // Too long to keep: what is kept still ends at the newline.
                            self.pending.clear();
                            self.pending.resize(MAX_MESSAGE + 1, b' ');
                        }
                        data = &[];
                    }
                }
            } else {
                let end = data.iter().position(|b| *b == MARK).unwrap_or(data.len());
                self.pending.extend_from_slice(&data[..end]);
                self.flush_text(&mut out, end < data.len());
                if end < data.len() {
                    self.in_message = true;
                    data = &data[end + 1..];
                } else {
                    data = &[];
                }
            }
        }
        out
    }

    /// Plain text read so far as a piece; a UTF-8 sequence cut at the end waits unless
    /// `all` (a mark follows, so nothing more of it will come).
    fn flush_text(&mut self, out: &mut Vec<Piece>, all: bool) {
        if self.pending.is_empty() {
            return;
        }
        let keep = if all {
            0
        } else {
            match std::str::from_utf8(&self.pending) {
                Ok(_) => 0,
                Err(e) if e.error_len().is_none() => self.pending.len() - e.valid_up_to(),
                Err(_) => 0,
            }
        };
        let cut = self.pending.len() - keep;
        let rest = self.pending.split_off(cut);
        let text = String::from_utf8_lossy(&self.pending).into_owned();
        self.pending = rest;
        if !text.is_empty() {
            out.push(Piece::Text(text));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_and_messages_apart_across_reads() {
        let mut s = Splitter::default();
        let mut got = s.push(b"abc\x1e{\"a\"");
        got.extend(s.push(b":1}\nde"));
        assert_eq!(
            got,
            vec![
                Piece::Text("abc".into()),
                Piece::Message(b"{\"a\":1}".to_vec()),
                Piece::Text("de".into())
            ]
        );
    }

    #[test]
    fn a_cut_utf8_sequence_waits() {
        let mut s = Splitter::default();
        let e = "é".as_bytes();
        assert_eq!(s.push(&[b'x', e[0]]), vec![Piece::Text("x".into())]);
        assert_eq!(s.push(&e[1..]), vec![Piece::Text("é".into())]);
    }
}
