//! The messages of a client stream, read as they arrive: a request body of Connect envelopes
//! (a flags byte, a 4-byte big-endian length, the message), cut anywhere by the transport.
//! Over HTTP/1.1 a client stream is a chunked request body whose answer comes after it ends,
//! so it needs nothing HTTP/2 has (unlike a bidirectional stream).

use super::connect::RpcError;
use bytes::{Buf, Bytes, BytesMut};
use futures_util::{Stream, StreamExt};

/// Envelope flag of a compressed message, which nothing here negotiates.
const COMPRESSED: u8 = 0x01;
/// Envelope flag of an end-stream frame; a client has no use for one.
const END_STREAM: u8 = 0x02;

/// Splits a body into its envelopes' messages.
pub struct Envelopes<S> {
    body: S,
    buffered: BytesMut,
    /// The longest message taken.
    max: usize,
}

impl<S, E> Envelopes<S>
where
    S: Stream<Item = Result<Bytes, E>> + Unpin,
    E: std::fmt::Display,
{
    pub fn new(body: S, max: usize) -> Self {
        Envelopes {
            body,
            buffered: BytesMut::new(),
            max,
        }
    }

    /// The next message; `None` at the end of a body that ended between envelopes.
    pub async fn next(&mut self) -> Option<Result<Bytes, RpcError>> {
        loop {
            match self.take() {
                Ok(Some(message)) => return Some(Ok(message)),
                Ok(None) => {}
                Err(e) => return Some(Err(e)),
            }
            match self.body.next().await {
                Some(Ok(chunk)) => self.buffered.extend_from_slice(&chunk),
                Some(Err(e)) => {
                    return Some(Err(RpcError::new(
                        "canceled",
                        format!("the request stream broke: {e}"),
                    )));
                }
                None if self.buffered.is_empty() => return None,
                None => {
                    return Some(Err(RpcError::invalid(
                        "the request stream ended inside an envelope",
                    )));
                }
            }
        }
    }

    /// Reads and drops what is left of the body, up to `limit` bytes: a client still sending
    /// the rest of a refused stream then reads the answer instead of a broken pipe.
    pub async fn discard_rest(&mut self, limit: u64) {
        super::drain(&mut self.body, limit).await;
        self.buffered.clear();
    }

    /// A whole envelope's message from what has arrived, if there is one.
    fn take(&mut self) -> Result<Option<Bytes>, RpcError> {
        let Some(header) = self.buffered.get(..5) else {
            return Ok(None);
        };
        let flags = header[0];
        let len = u32::from_be_bytes([header[1], header[2], header[3], header[4]]) as usize;
        if flags & COMPRESSED != 0 {
            return Err(RpcError::invalid("compressed messages are not supported"));
        }
        if flags & END_STREAM != 0 {
            return Err(RpcError::invalid(
                "a client stream ends with its body, not with an end-stream frame",
            ));
        }
        if len > self.max {
            return Err(RpcError::new(
                "resource_exhausted",
                format!("a message of {len} bytes is larger than {} bytes", self.max),
            ));
        }
        if self.buffered.len() < 5 + len {
            return Ok(None);
        }
        self.buffered.advance(5);
        Ok(Some(self.buffered.split_to(len).freeze()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frame(flags: u8, payload: &[u8]) -> Vec<u8> {
        let mut out = vec![flags];
        out.extend_from_slice(&(payload.len() as u32).to_be_bytes());
        out.extend_from_slice(payload);
        out
    }

    /// The messages of `wire` cut into pieces of `cut` bytes, and how the reading ended.
    async fn read(wire: &[u8], cut: usize, max: usize) -> (Vec<Vec<u8>>, Option<RpcError>) {
        let pieces: Vec<Result<Bytes, std::io::Error>> = wire
            .chunks(cut)
            .map(|c| Ok(Bytes::copy_from_slice(c)))
            .collect();
        let mut envelopes = Envelopes::new(futures_util::stream::iter(pieces), max);
        let mut out = Vec::new();
        while let Some(m) = envelopes.next().await {
            match m {
                Ok(m) => out.push(m.to_vec()),
                Err(e) => return (out, Some(e)),
            }
        }
        (out, None)
    }

    #[tokio::test]
    async fn messages_come_out_whole_however_the_body_is_cut() {
        let mut wire = frame(0, b"{\"start\":{}}");
        wire.extend(frame(0, b""));
        wire.extend(frame(0, &[7u8; 300]));
        for cut in [1, 2, 5, 6, 64, 1000] {
            let (messages, end) = read(&wire, cut, 1024).await;
            assert_eq!(end, None, "cut {cut}");
            assert_eq!(
                messages,
                vec![b"{\"start\":{}}".to_vec(), vec![], vec![7u8; 300]],
                "cut {cut}"
            );
        }
        assert_eq!(read(&[], 1, 10).await, (vec![], None));
    }

    #[tokio::test]
    async fn discard_rest_reads_to_the_end_or_the_limit() {
        let pieces = |n: usize| {
            let chunks: Vec<Result<Bytes, std::io::Error>> =
                (0..n).map(|_| Ok(Bytes::from_static(&[0u8; 10]))).collect();
            futures_util::stream::iter(chunks)
        };
        let mut all = Envelopes::new(pieces(5), 1024);
        all.discard_rest(1000).await;
        assert!(all.body.next().await.is_none(), "the whole body was read");
        let mut some = Envelopes::new(pieces(5), 1024);
        some.discard_rest(25).await;
        assert_eq!(some.body.count().await, 2, "reading stopped at the limit");
    }

    #[tokio::test]
    async fn a_body_cut_inside_an_envelope_or_with_a_bad_frame_is_an_error() {
        let mut wire = frame(0, b"ok");
        wire.extend(&frame(0, b"half")[..6]);
        let (messages, end) = read(&wire, 3, 1024).await;
        assert_eq!(messages, vec![b"ok".to_vec()]);
        assert_eq!(end.map(|e| e.code), Some("invalid_argument"));

        for (flags, code) in [
            (COMPRESSED, "invalid_argument"),
            (END_STREAM, "invalid_argument"),
        ] {
            let (messages, end) = read(&frame(flags, b"{}"), 7, 1024).await;
            assert!(messages.is_empty());
            assert_eq!(end.map(|e| e.code), Some(code));
        }
        // Refused from its header, before the message is waited for.
        let (_, end) = read(&frame(0, &[0u8; 2000])[..5], 5, 1024).await;
        assert_eq!(end.map(|e| e.code), Some("resource_exhausted"));
    }
}
