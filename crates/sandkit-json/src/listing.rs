//! The fast path's reading of a page of E2B's `GET /v2/sandboxes`: each sandbox's fields
//! borrowed from the page, with no tree, no owned strings and no map. It is the one place this
//! crate knows a schema. It is here, not in `sandkit::info_json` (which turns each sandbox into
//! the SDK's JSON and holds the result to the usual reading), because this crate is compiled
//! for speed in the wasm build: compiled for size, matching the member names and the loops'
//! closures cost a wasm listing about a tenth of its time.
//!
//! Like [`Tokens`], it gives up (`None`) at anything it does not handle: an escape, a number
//! that is not plain digits, a field given twice, a wrong type. The caller then reads the page
//! the usual way, which decides what it means or why it is wrong.

use crate::Tokens;

/// One sandbox of a page, its fields as the page writes them.
#[derive(Debug)]
pub struct Listed<'a, 'p> {
    pub sandbox_id: &'a str,
    pub template_id: &'a str,
    /// `alias`, when given and not null.
    pub alias: Option<&'a str>,
    /// Sorted by key, each key once (of a key given twice, the last); empty when `metadata`
    /// is absent or null.
    pub metadata: &'p [(&'a str, &'a str)],
    pub state: &'a str,
    pub cpu_count: u32,
    pub memory_mb: u32,
    pub envd_version: &'a str,
    /// RFC 3339 timestamps, as written.
    pub started_at: &'a str,
    pub end_at: &'a str,
}

/// Array and object nesting of a sandbox's members, for `skip`.
pub const MEMBER_DEPTH: u32 = 2;

/// Reads a page, handing `each` every sandbox in turn. `skip` says where a member this
/// reader does not know ends, given the text and where the value starts (`None`: not a
/// value), at nesting [`MEMBER_DEPTH`]. `each` is a `dyn`, so that the loops are compiled
/// here and not in the caller's crate.
pub fn read_page<'a>(
    text: &'a str,
    skip: fn(&'a [u8], usize, u32) -> Option<usize>,
    each: &mut dyn FnMut(&Listed<'a, '_>) -> Option<()>,
) -> Option<()> {
    let mut t = Tokens::new(text);
    // Reused for every sandbox's metadata.
    let mut pairs = Vec::new();
    t.array(|t| each(&listed(t, skip, &mut pairs)?))?;
    t.at_end().then_some(())
}

/// Sets a field not seen before; a field given twice is left to the full reader.
fn once<T>(slot: &mut Option<T>, value: Option<T>) -> Option<()> {
    if slot.is_some() {
        return None;
    }
    *slot = Some(value?);
    Some(())
}

/// One sandbox: the fields `ListedSandbox::from_json` reads, each checked as it checks them.
fn listed<'a, 'p>(
    t: &mut Tokens<'a>,
    skip: fn(&'a [u8], usize, u32) -> Option<usize>,
    pairs: &'p mut Vec<(&'a str, &'a str)>,
) -> Option<Listed<'a, 'p>> {
    let [
        mut id,
        mut template,
        mut started,
        mut end,
        mut state,
        mut envd,
        mut client,
    ] = [None; 7];
    let [mut cpu, mut memory, mut disk] = [None; 3];
    let (mut alias, mut metadata) = (None, None);
    // A `match`: the compiler tells names apart by length first, where a search of a list of
    // names compared each in turn.
    t.object(|t, key| match key {
        "sandboxID" => once(&mut id, t.plain_string()),
        "templateID" => once(&mut template, t.plain_string()),
        "startedAt" => once(&mut started, t.plain_string()),
        "endAt" => once(&mut end, t.plain_string()),
        "state" => once(&mut state, t.plain_string()),
        "envdVersion" => once(&mut envd, t.plain_string()),
        "clientID" => once(&mut client, t.plain_string()),
        "cpuCount" => once(&mut cpu, t.u32()),
        "memoryMB" => once(&mut memory, t.u32()),
        "diskSizeMB" => once(&mut disk, t.u32()),
        "alias" => {
            let value = if t.null()? {
                Some(None)
            } else {
                t.plain_string().map(Some)
            };
            once(&mut alias, value)
        }
        "metadata" => {
            let value = if t.null()? {
                Some(false)
            } else {
                string_object(t, pairs).map(|_| true)
            };
            once(&mut metadata, value)
        }
        _ => t.skip_value(|text, at| skip(text, at, MEMBER_DEPTH)),
    })?;
    if metadata != Some(true) {
        pairs.clear();
    }
    // `clientID` and `diskSizeMB` are read (each must be well formed) but not kept.
    let _ = (client, disk);
    Some(Listed {
        sandbox_id: id?,
        template_id: template?,
        alias: alias.flatten(),
        metadata: pairs,
        state: state?,
        cpu_count: cpu?,
        memory_mb: memory?,
        envd_version: envd?,
        started_at: started?,
        end_at: end?,
    })
}

/// An object of strings into `pairs`, sorted by key, of a key given twice the last kept.
fn string_object<'a>(t: &mut Tokens<'a>, pairs: &mut Vec<(&'a str, &'a str)>) -> Option<()> {
    pairs.clear();
    t.object(|t, key| {
        pairs.push((key, t.plain_string()?));
        Some(())
    })?;
    // An insertion sort: metadata has a few keys, and the library's sorts are kilobytes of
    // wasm. Stable: of equal keys the last stays last, and is the one kept.
    for i in 1..pairs.len() {
        let mut j = i;
        while j > 0 && pairs[j - 1].0 > pairs[j].0 {
            pairs.swap(j - 1, j);
            j -= 1;
        }
    }
    let mut kept = 0;
    for i in 0..pairs.len() {
        if i + 1 < pairs.len() && pairs[i].0 == pairs[i + 1].0 {
            continue;
        }
        pairs[kept] = pairs[i];
        kept += 1;
    }
    pairs.truncate(kept);
    Some(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Where a value ends, for values these tests skip: numbers only.
    fn skip_numbers(text: &[u8], at: usize, _depth: u32) -> Option<usize> {
        let mut c = crate::Cursor {
            input: text,
            pos: at,
        };
        c.number()?;
        Some(c.pos)
    }

    /// The ids of the sandboxes `read_page` hands over.
    fn read(page: &str) -> Option<Vec<String>> {
        let mut seen = Vec::new();
        read_page(page, skip_numbers, &mut |l| {
            seen.push(l.sandbox_id.to_string());
            Some(())
        })?;
        Some(seen)
    }

    fn sandbox(id: &str, more: &str) -> String {
        format!(
            r#"{{"sandboxID":"{id}","templateID":"t","startedAt":"s","endAt":"e","cpuCount":1,"memoryMB":2,"state":"running","envdVersion":"v"{more}}}"#
        )
    }

    #[test]
    fn hands_over_each_sandbox_with_its_fields() {
        let page = format!(
            "[{},{}]",
            sandbox(
                "a",
                r#","alias":"x","clientID":"c","diskSizeMB":3,"other":7"#
            ),
            sandbox("b", r#","alias":null,"metadata":{"k":"2","j":"1","k":"3"}"#)
        );
        let mut listed = Vec::new();
        read_page(&page, skip_numbers, &mut |l| {
            listed.push((
                l.sandbox_id,
                l.alias,
                l.metadata.to_vec(),
                l.cpu_count,
                l.memory_mb,
            ));
            assert_eq!(
                (l.template_id, l.state, l.envd_version),
                ("t", "running", "v")
            );
            assert_eq!((l.started_at, l.end_at), ("s", "e"));
            Some(())
        })
        .expect("a page as servers write it");
        // Metadata sorted by key, of a key given twice the last kept.
        assert_eq!(
            listed,
            [
                ("a", Some("x"), vec![], 1, 2),
                ("b", None, vec![("j", "1"), ("k", "3")], 1, 2)
            ]
        );
        assert_eq!(read(" [ ] "), Some(vec![]));
        assert_eq!(read(&page), Some(vec!["a".into(), "b".into()]));
    }

    #[test]
    fn gives_up_on_what_it_does_not_handle() {
        for page in [
            // A field given twice, a missing one, a wrong type, an escape, a skipped value
            // that `skip` refuses, text after the array, a sandbox that is not an object.
            format!("[{}]", sandbox("a", r#","cpuCount":1"#)),
            r#"[{"sandboxID":"a"}]"#.to_string(),
            format!("[{}]", sandbox("a", r#","alias":1"#)),
            format!("[{}]", sandbox("a\\u0041", "")),
            format!("[{}]", sandbox("a", r#","metadata":{"k":1}"#)),
            format!("[{}]", sandbox("a", r#","other":"text""#)),
            format!("[{}] x", sandbox("a", "")),
            "[1]".to_string(),
            "[".to_string(),
        ] {
            assert_eq!(read(&page), None, "{page}");
        }
    }

    #[test]
    fn stops_where_each_says_so() {
        let page = format!("[{},{}]", sandbox("a", ""), sandbox("b", ""));
        let mut calls = 0;
        assert_eq!(
            read_page(&page, skip_numbers, &mut |_| {
                calls += 1;
                None
            }),
            None
        );
        assert_eq!(calls, 1);
    }
}
