//! UTF-8 text from a stream of byte pieces, the same text a streaming decoder gives: the bytes
//! of a character a piece ends inside are held for the next piece, and what cannot be decoded
//! becomes U+FFFD as [`String::from_utf8_lossy`] makes it (the WHATWG way, as JavaScript's
//! `TextDecoder` does). Cutting just before a byte that is not a continuation byte changes no
//! decoder's output, so each piece is decoded whole.

use bytes::Bytes;

/// One stream's decoder.
#[derive(Debug, Default)]
pub struct Utf8Pieces {
    held: Vec<u8>,
}

impl Utf8Pieces {
    /// The text of what was held and `piece`, up to a character that may go on in the next
    /// piece; empty when all of it may.
    pub fn push(&mut self, piece: Bytes) -> String {
        let mut bytes = if self.held.is_empty() {
            Vec::from(piece)
        } else {
            let mut joined = std::mem::take(&mut self.held);
            joined.extend_from_slice(&piece);
            joined
        };
        let cut = unfinished_from(&bytes);
        if cut < bytes.len() {
            self.held = bytes.split_off(cut);
        }
        into_text(bytes)
    }

    /// Whether bytes are held for a character still unfinished.
    pub fn holds(&self) -> bool {
        !self.held.is_empty()
    }

    /// What is held, at the end of the stream: an unfinished character becomes U+FFFD.
    pub fn finish(&mut self) -> String {
        into_text(std::mem::take(&mut self.held))
    }
}

fn into_text(bytes: Vec<u8>) -> String {
    String::from_utf8(bytes).unwrap_or_else(|e| String::from_utf8_lossy(e.as_bytes()).into_owned())
}

/// Where a character that may go on in the next piece starts (the length if none does).
fn unfinished_from(bytes: &[u8]) -> usize {
    let n = bytes.len();
    for i in (n.saturating_sub(3)..n).rev() {
        let b = bytes[i];
        if b & 0xc0 == 0x80 {
            continue; // a continuation byte: look further back
        }
        let need = match b {
            0xf0.. => 4,
            0xe0.. => 3,
            0xc0.. => 2,
            _ => 1,
        };
        return if n - i < need { i } else { n };
    }
    n
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every way of cutting `input` into three pieces decodes as the whole does.
    fn same_as_whole(input: &[u8]) {
        let whole = String::from_utf8_lossy(input);
        for a in 0..=input.len() {
            for b in a..=input.len() {
                let mut d = Utf8Pieces::default();
                let mut text = String::new();
                for piece in [&input[..a], &input[a..b], &input[b..]] {
                    text.push_str(&d.push(Bytes::copy_from_slice(piece)));
                }
                text.push_str(&d.finish());
                assert_eq!(text, whole, "{input:?} cut at {a} and {b}");
            }
        }
    }

    #[test]
    fn pieces_decode_as_the_whole() {
        same_as_whole("a€b😀c é".as_bytes());
        // Invalid bytes: stray continuations, a lead without its end, leads never valid.
        same_as_whole(b"x\x80\x80\x80\x80y");
        same_as_whole(b"\xe2\x82A\xf0\x9f\x98");
        same_as_whole(b"\xc0\x80\xf5\x80\x80\x80\xff");
    }

    #[test]
    fn a_character_cut_off_at_the_end_becomes_a_replacement() {
        let mut d = Utf8Pieces::default();
        assert_eq!(d.push(Bytes::from_static(b"ok\xe2\x82")), "ok");
        assert!(d.holds());
        assert_eq!(d.finish(), "\u{fffd}");
        assert!(!d.holds());
    }
}
