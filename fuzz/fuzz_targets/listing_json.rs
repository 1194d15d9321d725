//! A page of a sandbox listing read two ways (a differential fuzz): the fast path, which
//! writes the SDK's JSON straight from the page's bytes, and the usual reading through the
//! tree and the typed fields. Wherever the fast path gives an answer it is the usual
//! reading's; where it gives up, the usual reading decides.
#![no_main]

use libfuzzer_sys::fuzz_target;
use sandkit::info_json::{fast_page_json, typed_page_json};

fuzz_target!(|data: &[u8]| {
    let typed = typed_page_json(data);
    if let Some(fast) = fast_page_json(data) {
        match typed {
            Ok(typed) => assert_eq!(fast, typed),
            Err(e) => panic!("the fast path read a page that the usual reading refuses: {e}"),
        }
        // What both wrote is JSON.
        sandkit::json::parse(fast.as_bytes()).expect("the SDK's JSON parses");
    }
});
