//! `SandboxInfo`s as JSON in the SDK's shape, its two dates as Unix milliseconds: what the wasm
//! binding hands to one `JSON.parse` (building objects field by field through the boundary
//! costs a string conversion per key and value), and the JS layer makes the dates `Date`s.
//!
//! A page of a listing has a fast path: its JSON is written straight from the page's bytes
//! (read by `sandkit_json::listing`, compiled for speed), with no tree, no owned strings and no
//! map in between. That reading, the tree's and the typed fields', was most of a wasm listing's
//! time. The fast path handles the pages sandkitd and E2B send (strings without escapes,
//! integers as digits, each field once) and gives up on anything else; the page is then read
//! the usual way, which decides what it means or why it is wrong. So both ways give one answer:
//! `tests` and the `listing_json` fuzz target hold the fast path to it.

use crate::api::ApiResponse;
use crate::error::Result;
use crate::info::{LifecycleInfo, SandboxInfo};
use crate::json::Writer;
use crate::wire::{self, ListedSandbox, NetworkConfig, SandboxState, StringMap};
use sandkit_json::listing::{self, Listed};

/// A sandbox's fields as the JSON holds them, borrowed from a [`SandboxInfo`] or from a page.
struct InfoView<'a> {
    sandbox_id: &'a str,
    template_id: &'a str,
    name: Option<&'a str>,
    metadata: Metadata<'a>,
    state: SandboxState,
    cpu_count: u32,
    memory_mb: u32,
    envd_version: &'a str,
    sandbox_domain: Option<&'a str>,
    allow_internet_access: Option<bool>,
    network: Option<&'a NetworkConfig>,
    lifecycle: Option<&'a LifecycleInfo>,
    started_at: i64,
    end_at: i64,
    /// How its strings are written: quoted (a `SandboxInfo`'s may hold anything), or copied
    /// as they are (a page's, which the fast path takes only where nothing needs escaping).
    put: fn(&mut Writer, &str),
}

/// Metadata in key order, each key once.
enum Metadata<'a> {
    Map(&'a StringMap),
    /// Sorted by key, duplicates already dropped (the last one kept, as a map would); from a
    /// page, nothing to escape.
    Pairs(&'a [(&'a str, &'a str)]),
}

impl<'a> InfoView<'a> {
    fn of(i: &'a SandboxInfo) -> Self {
        InfoView {
            sandbox_id: &i.sandbox_id,
            template_id: &i.template_id,
            name: i.name.as_deref(),
            metadata: Metadata::Map(&i.metadata),
            state: i.state,
            cpu_count: i.cpu_count,
            memory_mb: i.memory_mb,
            envd_version: &i.envd_version,
            sandbox_domain: i.sandbox_domain.as_deref(),
            allow_internet_access: i.allow_internet_access,
            network: i.network.as_ref(),
            lifecycle: i.lifecycle.as_ref(),
            started_at: i.started_at.unix_millis(),
            end_at: i.end_at.unix_millis(),
            put: Writer::str,
        }
    }

    fn write(&self, w: &mut Writer) {
        let field = |w: &mut Writer, key: &str, value: &str| {
            w.plain_key(key);
            (self.put)(w, value);
        };
        w.begin_object();
        field(w, "sandboxId", self.sandbox_id);
        field(w, "templateId", self.template_id);
        if let Some(name) = self.name {
            field(w, "name", name);
        }
        w.plain_key("metadata");
        match self.metadata {
            Metadata::Map(map) => w.string_map(map),
            Metadata::Pairs(pairs) => {
                w.begin_object();
                for (k, v) in pairs {
                    w.plain_key(k);
                    w.plain_str(v);
                }
                w.end_object();
            }
        }
        w.plain_key("state");
        w.plain_str(self.state.as_str());
        w.field_u64("cpuCount", self.cpu_count.into());
        w.field_u64("memoryMB", self.memory_mb.into());
        field(w, "envdVersion", self.envd_version);
        if let Some(domain) = self.sandbox_domain {
            field(w, "sandboxDomain", domain);
        }
        w.field_opt_bool("allowInternetAccess", self.allow_internet_access);
        if let Some(n) = self.network {
            w.key("network");
            n.write_json(w);
        }
        if let Some(l) = self.lifecycle {
            w.key("lifecycle");
            w.begin_object();
            w.field_str("onTimeout", &l.on_timeout);
            w.field_bool("autoResume", l.auto_resume);
            w.end_object();
        }
        w.field_opt_i64("startedAt", Some(self.started_at));
        w.field_opt_i64("endAt", Some(self.end_at));
        w.end_object();
    }
}

/// `info` as the SDK's `SandboxInfo` object, in JSON.
pub fn info_json(info: &SandboxInfo) -> String {
    let mut w = Writer::new();
    InfoView::of(info).write(&mut w);
    w.finish()
}

/// `items` as a JSON array of the SDK's `SandboxInfo` objects.
pub fn infos_json(items: &[SandboxInfo]) -> String {
    let mut w = Writer::new();
    w.begin_array();
    for info in items {
        InfoView::of(info).write(&mut w);
    }
    w.end_array();
    w.finish()
}

/// A page of `GET /v2/sandboxes` as [`infos_json`] of its sandboxes, or the error that reading
/// it gives.
pub(crate) fn listed_page_json(resp: &ApiResponse) -> Result<String> {
    if let Some(json) = fast_page_json(&resp.body) {
        return Ok(json);
    }
    typed_infos_json(resp.json(ListedSandbox::list_from_json)?)
}

/// The fast path of reading a page of `GET /v2/sandboxes` as [`infos_json`]; `None` where it
/// gives up. Wherever it gives an answer, [`typed_page_json`] gives the same.
pub fn fast_page_json(body: &[u8]) -> Option<String> {
    let text = std::str::from_utf8(body).ok()?;
    // The SDK's JSON of a sandbox is about as long as the page's.
    let mut w = Writer::with_capacity(body.len() + body.len() / 8);
    w.begin_array();
    listing::read_page(text, crate::json::value_end, &mut |l| {
        fast_view(l)?.write(&mut w);
        Some(())
    })?;
    w.end_array();
    Some(w.finish())
}

/// One sandbox of a page, as `SandboxInfo::try_from` makes it of a `ListedSandbox`.
fn fast_view<'p>(l: &'p Listed<'_, '_>) -> Option<InfoView<'p>> {
    Some(InfoView {
        sandbox_id: l.sandbox_id,
        template_id: l.template_id,
        name: l.alias,
        metadata: Metadata::Pairs(l.metadata),
        state: SandboxState::parse(l.state)?,
        cpu_count: l.cpu_count,
        memory_mb: l.memory_mb,
        envd_version: l.envd_version,
        sandbox_domain: None,
        allow_internet_access: None,
        network: None,
        lifecycle: None,
        started_at: wire::time::parse_rfc3339_millis(l.started_at)?,
        end_at: wire::time::parse_rfc3339_millis(l.end_at)?,
        put: Writer::plain_str,
    })
}

/// A page of `GET /v2/sandboxes` as [`infos_json`], read the usual way: the tree, then
/// `ListedSandbox` and `SandboxInfo`.
pub fn typed_page_json(body: &[u8]) -> Result<String> {
    let items = crate::json::parse(body)
        .and_then(|v| ListedSandbox::list_from_json(&v))
        .map_err(|e| crate::Error::new(crate::ErrorKind::Sandbox, e.to_string()))?;
    typed_infos_json(items)
}

fn typed_infos_json(items: Vec<ListedSandbox>) -> Result<String> {
    let mut infos = Vec::with_capacity(items.len());
    for item in items {
        infos.push(SandboxInfo::try_from(item)?);
    }
    Ok(infos_json(&infos))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A page as sandkitd writes it.
    const PAGE: &str = r#"[{"sandboxID":"3nofjh7qzpbo5rnu9cyz","templateID":"base","clientID":"sandkitd","startedAt":"2026-12-06T02:31:28.782Z","endAt":"2026-12-06T02:36:28.782Z","cpuCount":2,"memoryMB":512,"diskSizeMB":1024,"state":"running","envdVersion":"0.6.13","metadata":{"bench":"tag-123456","i":"85"}},{"sandboxID":"jmjwtk9om7m8595roa3n","templateID":"base","alias":"my-template","clientID":"sandkitd","startedAt":"2026-12-06T02:31:28.781Z","endAt":"2026-12-06T02:36:28.781Z","cpuCount":2,"memoryMB":512,"diskSizeMB":1024,"state":"paused","envdVersion":"0.6.13","metadata":{}}]"#;

    /// The fast path's answer, after checking it against the usual reading.
    fn checked(body: &str) -> Option<String> {
        let fast = fast_page_json(body.as_bytes());
        if let Some(json) = &fast {
            let typed = typed_page_json(body.as_bytes());
            assert_eq!(Some(json), typed.as_ref().ok(), "{body}: {typed:?}");
        }
        fast
    }

    #[test]
    fn pages_as_servers_write_them_take_the_fast_path_and_read_the_same() {
        let json = checked(PAGE).expect("the fast path reads sandkitd's page");
        assert!(json.starts_with(r#"[{"sandboxId":"3nofjh7qzpbo5rnu9cyz","templateId":"base","metadata":{"bench":"tag-123456","i":"85"},"state":"running","cpuCount":2,"memoryMB":512,"envdVersion":"0.6.13","startedAt":1796524288782,"#));
        assert!(json.contains(r#""name":"my-template""#));
        for page in [
            "[]",
            " [ ] ",
            // Whitespace anywhere, fields in any order, unknown fields of any shape, nulls
            // where the fields are optional, no metadata, no clientID or diskSizeMB.
            "[ {\n \"state\" : \"running\" , \"x\": [1, {\"y\": null}], \"sandboxID\":\"a\",\"templateID\":\"t\",\"alias\":null,\"metadata\":null,\"startedAt\":\"2026-01-01T00:00:00Z\",\"endAt\":\"2026-01-01T00:00:01.5Z\",\"cpuCount\":0,\"memoryMB\":4294967295,\"envdVersion\":\"v\"} ]\n",
            // Metadata keys repeated and unsorted: a map's order, the last of a key kept.
            r#"[{"sandboxID":"a","templateID":"t","startedAt":"2026-01-01T00:00:00Z","endAt":"2026-01-01T00:00:00Z","cpuCount":1,"memoryMB":1,"state":"running","envdVersion":"v","metadata":{"b":"1","a":"2","b":"3","é":"ü","":""}}]"#,
            // Unknown keys given twice are fine; non-ASCII strings are copied as they are.
            r#"[{"z":1,"z":2,"sandboxID":"ß✓","templateID":"t","startedAt":"2026-01-01T00:00:00+02:00","endAt":"2026-01-01T00:00:00Z","cpuCount":1,"memoryMB":1,"state":"paused","envdVersion":"v"}]"#,
        ] {
            assert!(checked(page).is_some(), "{page}");
        }
    }

    #[test]
    fn anything_unusual_is_left_to_the_usual_reading() {
        let item = |fields: &str| {
            format!(
                r#"[{{"sandboxID":"a","templateID":"t","startedAt":"2026-01-01T00:00:00Z","endAt":"2026-01-01T00:00:00Z","cpuCount":1,"memoryMB":1,"state":"running","envdVersion":"v"{fields}}}]"#
            )
        };
        let valid_but_unusual = [
            item(r#","alias":"a\"b""#),
            item(r#","metadata":{"k":"line\nbreak"}"#),
            item(r#","metadata":{"\u0041":"x"}"#),
            item(r#","env\u0064Version2":"x""#),
            r#"[{"sandbox\u0049D":"a","templateID":"t","startedAt":"2026-01-01T00:00:00Z","endAt":"2026-01-01T00:00:00Z","cpuCount":1,"memoryMB":1,"state":"running","envdVersion":"v"}]"#.to_string(),
        ];
        for page in &valid_but_unusual {
            assert_eq!(checked(page), None, "{page}");
            assert!(typed_page_json(page.as_bytes()).is_ok(), "{page}");
        }
        let wrong = [
            item(r#","cpuCount":2"#),
            item(r#","clientID":null"#),
            item(r#","diskSizeMB":null"#),
            item(r#","diskSizeMB":-1"#),
            item(r#","diskSizeMB":1.0"#),
            item(r#","diskSizeMB":1e2"#),
            item(r#","diskSizeMB":4294967296"#),
            item(r#","metadata":{"k":1}"#),
            item(r#","metadata":[]"#),
            item(r#","x":[1,]"#),
            item(r#","x":01"#),
            item(r#","alias":5"#),
            item("").replace("running", "stopped"),
            item("").replace("2026-01-01T00:00:00Z", "yesterday"),
            item("").replace(r#""memoryMB":1,"#, ""),
            item("") + " x",
            item("").replace('[', "{\"a\":"),
            "[1]".to_string(),
            "[".to_string(),
        ];
        for page in &wrong {
            assert_eq!(checked(page), None, "{page}");
            assert!(typed_page_json(page.as_bytes()).is_err(), "{page}");
        }
        let mut not_utf8 = item("").into_bytes();
        let at = not_utf8.iter().position(|&b| b == b'v').unwrap();
        not_utf8[at] = 0xff;
        assert_eq!(fast_page_json(&not_utf8), None);
        assert!(typed_page_json(&not_utf8).is_err());
    }

    #[test]
    fn a_sandbox_info_is_written_in_the_sdks_shape() {
        let infos: Vec<SandboxInfo> =
            ListedSandbox::list_from_json(&crate::json::parse(PAGE.as_bytes()).unwrap())
                .unwrap()
                .into_iter()
                .map(|l| SandboxInfo::try_from(l).unwrap())
                .collect();
        let json = infos_json(&infos);
        assert_eq!(Some(&json), fast_page_json(PAGE.as_bytes()).as_ref());
        let v = crate::json::parse(json.as_bytes()).unwrap();
        let second = v.array().unwrap()[1].object().unwrap();
        assert_eq!(second.str("sandboxId").unwrap(), "jmjwtk9om7m8595roa3n");
        assert_eq!(second.str("state").unwrap(), "paused");
        assert_eq!(second.req("endAt").unwrap().i64().unwrap(), 1796524588781);
    }
}
