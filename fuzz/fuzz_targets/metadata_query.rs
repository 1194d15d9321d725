//! The `metadata` filter of a sandbox listing, end to end: any map the SDK encodes into a
//! query string, sandkitd reads back as the same map; and any query string at all is read or
//! refused without a panic, by sandkitd and by the SDK's decoder.
#![no_main]

use libfuzzer_sys::fuzz_target;
use sandkit::wire::StringMap;
use sandkit::wire::metadata;
use sandkit_server::api::fuzz_metadata_filter;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let _ = fuzz_metadata_filter(&text);
    let _ = metadata::decode(&text);
    let _ = metadata::percent_decode(&text, true);
    // Pairs separated by NUL, key and value by SOH (any other character, percent signs and
    // ampersands included, is the map's own).
    let mut map = StringMap::new();
    for pair in text.split('\0') {
        let (k, v) = pair.split_once('\u{1}').unwrap_or((pair, ""));
        if !k.is_empty() {
            map.insert(k.to_string(), v.to_string());
        }
    }
    if map.is_empty() {
        return;
    }
    let query = format!("metadata={}&limit=5", metadata::encode_query_value(&map));
    assert_eq!(fuzz_metadata_filter(&query), Some(map), "{query}");
});
