//! wasm transport: the global `fetch` of browsers, Workers, Deno and Node, reached through
//! web-sys (far smaller than a general HTTP client compiled to wasm).

use super::{
    Body, BodyPart, HttpRequest, HttpResponse, RequestBody, ResponseHeaders, Transport,
    TransportError, TransportErrorKind, refuse_header, refuse_redirect,
};
use crate::js_wait::settled;
use crate::maybe_send::BoxFuture;
use bytes::Bytes;
use futures_util::StreamExt;
use js_sys::{Promise, Reflect, Uint8Array};
use std::cell::RefCell;
use wasm_bindgen::{JsCast, JsValue, prelude::wasm_bindgen};

#[wasm_bindgen]
extern "C" {
    // The global function, looked up at call time, so it works without `window`.
    // URL and init rather than a `Request`: fetch would copy a `Request` into a new one.
    #[wasm_bindgen(js_name = fetch)]
    fn global_fetch(url: &str, init: &web_sys::RequestInit) -> Promise;
    // Without `catch` (whose wrapper makes a function per call): none of these throws. A
    // header name of ours is valid, an `AbortController` is made from nothing, and a body
    // already read makes `arrayBuffer()` reject, not throw.
    #[wasm_bindgen(js_name = Headers)]
    type JsHeaders;
    #[wasm_bindgen(method)]
    fn get(this: &JsHeaders, name: &str) -> Option<String>;
    #[wasm_bindgen(js_name = AbortController)]
    type Controller;
    #[wasm_bindgen(constructor, js_class = "AbortController")]
    fn new() -> Controller;
    #[wasm_bindgen(js_name = Response)]
    type WholeResponse;
    #[wasm_bindgen(method, js_name = arrayBuffer)]
    fn array_buffer(this: &WholeResponse) -> Promise;
    /// What a reader's `read()` gives: `{ done, value }`. Read through getters, not
    /// `Reflect.get` with a key made anew for every chunk.
    #[wasm_bindgen(js_name = Object)]
    type ReadResult;
    #[wasm_bindgen(method, getter)]
    fn done(this: &ReadResult) -> bool;
    #[wasm_bindgen(method, getter)]
    fn value(this: &ReadResult) -> JsValue;
}

/// Sends requests with the runtime's `fetch`.
#[derive(Clone, Copy, Default)]
pub struct FetchTransport {
    /// Browsers refuse some headers (User-Agent) and preflight every custom one.
    pub is_browser: bool,
}

// The transport holds no JavaScript objects, only a flag.
unsafe impl Sync for FetchTransport {}

fn js_message(v: &JsValue) -> String {
    v.dyn_ref::<js_sys::Error>()
        .map(|e| {
            let mut msg = String::from(e.message());
            // Node's fetch hides the reason ("fetch failed") in `cause`.
            let cause = Reflect::get(e, &JsValue::from_str("cause")).ok();
            if let Some(c) = cause.as_ref().and_then(|c| c.dyn_ref::<js_sys::Error>()) {
                msg.push_str(": ");
                msg.push_str(&String::from(c.message()));
            }
            msg
        })
        .or_else(|| v.as_string())
        .unwrap_or_else(|| "fetch failed".to_string())
}

/// fetch rejects when no response came, without saying whether the request was sent: a
/// refused connection (which Node names in `cause.code`) certainly was not; anything else may
/// have reached the server, so a create is not sent again after it.
fn rejection_kind(v: &JsValue) -> TransportErrorKind {
    let code = Reflect::get(v, &JsValue::from_str("cause"))
        .ok()
        .filter(|c| c.is_object())
        .and_then(|c| Reflect::get(&c, &JsValue::from_str("code")).ok())
        .and_then(|c| c.as_string());
    match code.as_deref() {
        Some("ECONNREFUSED") => TransportErrorKind::Connect,
        _ => TransportErrorKind::Reset,
    }
}

fn other(v: JsValue) -> TransportError {
    TransportError::new(TransportErrorKind::Other, js_message(&v))
}

/// Whole bodies as a typed array; a single host value as it is (a `ReadableStream` streams,
/// which needs `duplex: 'half'`); pieces as one `Blob`, which the runtime uploads without
/// copying host values into wasm memory.
async fn set_body(init: &web_sys::RequestInit, body: RequestBody) -> Result<(), TransportError> {
    let parts = match body {
        RequestBody::Bytes(b) => {
            init.set_body(&Uint8Array::from(b.as_ref()));
            return Ok(());
        }
        RequestBody::Parts(parts) => parts,
    };
    if let [BodyPart::Host(value)] = parts.as_slice() {
        let get_reader = Reflect::get(value, &JsValue::from_str("getReader")).unwrap_or_default();
        if get_reader.is_function() {
            Reflect::set(
                init,
                &JsValue::from_str("duplex"),
                &JsValue::from_str("half"),
            )
            .map_err(other)?;
        }
        init.set_body(value);
        return Ok(());
    }
    let pieces = js_sys::Array::new();
    for part in parts {
        match part {
            BodyPart::Bytes(b) => {
                pieces.push(&Uint8Array::from(b.as_ref()));
            }
            BodyPart::Host(v) => {
                pieces.push(&v);
            }
            BodyPart::Stream(mut s) => {
                while let Some(chunk) = s.next().await {
                    pieces.push(&Uint8Array::from(chunk?.as_ref()));
                }
            }
        }
    }
    let blob = web_sys::Blob::new_with_u8_array_sequence(&pieces).map_err(other)?;
    init.set_body(&blob);
    Ok(())
}

/// The request's `RequestInit` as JSON, for one `JSON.parse`: set property by property and
/// header by header, it took a call across the boundary for each. Never followed: see
/// `refuse_redirect` (browsers then answer an opaque redirect, status 0).
fn init_json(request: &HttpRequest, is_browser: bool, no_store: bool) -> String {
    let mut out = crate::json::Writer::with_capacity(64 + 48 * request.headers.len());
    out.begin_object();
    out.field_str("method", request.method.as_str());
    out.field_str("redirect", "manual");
    if no_store {
        out.field_str("cache", "no-store");
    }
    out.key("headers");
    out.begin_array();
    // Headers a browser sets itself (a page may not).
    let sent = request
        .headers
        .iter()
        .filter(|(k, _)| !(is_browser && (k == "user-agent" || k == "accept-encoding")));
    for (k, v) in sent {
        out.begin_array();
        out.str(k);
        out.str(v);
        out.end_array();
    }
    out.end_array();
    out.end_object();
    out.finish()
}

async fn send(is_browser: bool, request: HttpRequest) -> Result<HttpResponse, TransportError> {
    if let Some(e) = request
        .headers
        .iter()
        .find_map(|(k, v)| refuse_header(k, v))
    {
        return Err(e);
    }
    // A browser's HTTP cache lets one GET per URL be in flight: a second GET of the same URL
    // (another call reading the same page, or a retry) waits up to 20 s for the first, so
    // one stalled request held up others past their deadlines. Such a GET bypasses the cache.
    // Only then: a request that bypasses the cache bypasses the preflight cache too, and
    // every call would pay a second round trip.
    let (in_flight, another) =
        InFlight::enter(is_browser && request.method.as_str() == "GET", &request.url);
    let init: web_sys::RequestInit = js_sys::JSON::parse(&init_json(&request, is_browser, another))
        .map_err(other)?
        .unchecked_into();
    if let Some(body) = request.body {
        set_body(&init, body).await?;
    }
    // A request given up before its answer is whole (its deadline passed, its caller went
    // away) is aborted: otherwise it keeps one of the six connections a browser or workerd
    // opens to a host until the server answers, which a stalled server never does, and the
    // next calls queue behind it. A streamed answer dropped before its end is aborted too:
    // cancelling the reader alone leaves some runtimes (workerd) reading it, and the server's
    // work (a process, an execution) goes on for nobody.
    let controller: web_sys::AbortController = Controller::new().unchecked_into();
    init.set_signal(Some(&controller.signal()));
    let mut abort = AbortOnDrop(Some(controller));
    let resp: web_sys::Response = settled(&global_fetch(&request.url, &init))
        .await
        .map_err(|e| TransportError::new(rejection_kind(&e), js_message(&e)))?
        .unchecked_into();
    let status = resp.status();
    // `Clone::clone`: `Response::clone` is the JavaScript method, which copies the body.
    let headers = ResponseHeaders::fetch(HeadersOf(Clone::clone(&resp)));
    if let Some(e) = refuse_redirect(status, &headers) {
        return Err(e);
    }
    let body = if request.stream_response {
        Body::Stream(Box::pin(body_stream(
            resp.body(),
            abort.0.take(),
            in_flight,
        )))
    } else {
        let buf = settled(&resp.unchecked_ref::<WholeResponse>().array_buffer())
            .await
            .map_err(|e| TransportError::new(TransportErrorKind::Reset, js_message(&e)))?;
        // Whole: nothing left to abort, and the cache's turn is over.
        abort.0 = None;
        drop(in_flight);
        Body::Full(Bytes::from(Uint8Array::new(&buf).to_vec()))
    };
    Ok(HttpResponse {
        status,
        headers,
        body,
    })
}

/// The headers of a response, asked for one by one (not even `response.headers` is read
/// until one is).
pub(crate) struct HeadersOf(web_sys::Response);

impl HeadersOf {
    pub(crate) fn get(&self, name: &str) -> Option<String> {
        self.0.headers().unchecked_into::<JsHeaders>().get(name)
    }
}

/// Aborts its request when dropped still holding it.
struct AbortOnDrop(Option<web_sys::AbortController>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        if let Some(controller) = self.0.take() {
            controller.abort();
        }
    }
}

thread_local! {
    /// The URLs of the GETs this module has in flight in a browser.
    static GETS_IN_FLIGHT: RefCell<Vec<String>> = const { RefCell::new(Vec::new()) };
}

/// A GET counted in flight until dropped (nothing for other requests and runtimes).
struct InFlight(Option<String>);

impl InFlight {
    /// Counts `url` in flight when `track`; also says whether it already was.
    fn enter(track: bool, url: &str) -> (Self, bool) {
        if !track {
            return (InFlight(None), false);
        }
        let another = GETS_IN_FLIGHT.with_borrow_mut(|urls| {
            let another = urls.iter().any(|u| u == url);
            urls.push(url.to_string());
            another
        });
        (InFlight(Some(url.to_string())), another)
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        if let Some(url) = self.0.take() {
            GETS_IN_FLIGHT.with_borrow_mut(|urls| {
                if let Some(i) = urls.iter().position(|u| *u == url) {
                    urls.swap_remove(i);
                }
            });
        }
    }
}

/// A body's reader, cancelled when it is dropped before the end: otherwise the runtime keeps
/// the response (a watch or a process stream that never ends) and its connection busy, and a
/// browser has six per host.
struct BodyReader {
    reader: web_sys::ReadableStreamDefaultReader,
    abort: Option<web_sys::AbortController>,
    finished: bool,
    /// Held to the end of the body: the browser's cache holds the URL's turn as long.
    _in_flight: InFlight,
}

impl Drop for BodyReader {
    fn drop(&mut self) {
        if !self.finished {
            if let Some(abort) = &self.abort {
                abort.abort();
            }
            // Handled, though nobody waits for it: on a stream that errored in the meantime
            // the promise rejects, and an unhandled rejection ends a Node process.
            drop(settled(&self.reader.cancel()));
        }
    }
}

fn body_stream(
    body: Option<web_sys::ReadableStream>,
    abort: Option<web_sys::AbortController>,
    in_flight: InFlight,
) -> impl futures_util::Stream<Item = Result<Bytes, TransportError>> {
    // `getReader()` without a mode always gives a default reader.
    let reader = body.map(|b| BodyReader {
        reader: b
            .get_reader()
            .unchecked_into::<web_sys::ReadableStreamDefaultReader>(),
        abort,
        finished: false,
        _in_flight: in_flight,
    });
    futures_util::stream::unfold(reader, |reader| async move {
        let mut reader = reader?;
        let chunk = match settled(&reader.reader.read()).await {
            Ok(c) => c,
            Err(e) => {
                reader.finished = true;
                return Some((
                    Err(TransportError::new(
                        TransportErrorKind::Reset,
                        js_message(&e),
                    )),
                    None,
                ));
            }
        };
        let chunk: &ReadResult = chunk.unchecked_ref();
        if chunk.done() {
            reader.finished = true;
            return None;
        }
        let value = chunk.value();
        // A response body's chunks are `Uint8Array`s (the Fetch standard says so), which
        // `Uint8Array::new` would copy before `to_vec` copies them again.
        let bytes = value.unchecked_ref::<Uint8Array>().to_vec();
        Some((Ok(Bytes::from(bytes)), Some(reader)))
    })
}

impl Transport for FetchTransport {
    fn send(&self, request: HttpRequest) -> BoxFuture<'_, Result<HttpResponse, TransportError>> {
        Box::pin(send(self.is_browser, request))
    }
}
