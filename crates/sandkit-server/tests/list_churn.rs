//! Issue 15 §2 at full scale: 10,000 sandboxes paged 100 at a time while a fifth of them are
//! killed and 1,000 are created, in both orders, with and without metadata and state filters.
//! No sandbox may show twice, none that lived through the whole listing may be missed, and
//! nothing that does not match the filter may show.

mod common;

use common::{Api, KEY_A, metadata_query, start_server};
use futures_util::StreamExt;
use serde_json::json;
use std::collections::{HashMap, HashSet};
use std::time::Instant;

const POPULATION: usize = 10_000;
const KILLED: usize = POPULATION / 5;
const ADDED: usize = 1_000;
const LIMIT: usize = 100;
/// Requests in flight while making fixtures and churning.
const CONCURRENCY: usize = 32;

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Color {
    Red,
    Blue,
}

#[derive(Clone, Copy, Debug)]
struct Attrs {
    color: Color,
    paused: bool,
}

/// A small deterministic generator: reproducible picks without a dependency.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    fn shuffle<T>(&mut self, v: &mut [T]) {
        for i in (1..v.len()).rev() {
            let j = (self.next() % (i as u64 + 1)) as usize;
            v.swap(i, j);
        }
    }
}

/// The n-th sandbox ever made: every other one red, three in ten paused.
fn attrs_for(n: usize) -> Attrs {
    Attrs {
        color: if n.is_multiple_of(2) {
            Color::Red
        } else {
            Color::Blue
        },
        paused: n % 10 < 3,
    }
}

async fn create(api: &Api, a: Attrs) -> String {
    let color = match a.color {
        Color::Red => "red",
        Color::Blue => "blue",
    };
    // An hour: nothing may expire while the test runs, or it would look skipped.
    let id = api
        .create(json!({"templateID": "base", "timeout": 3600, "metadata": {"color": color}}))
        .await;
    if a.paused {
        let reply = api.post(&format!("/sandboxes/{id}/pause"), json!({})).await;
        assert_eq!(reply.status, 204, "pause: {}", reply.text);
    }
    id
}

async fn kill(api: &Api, id: &str) {
    let reply = api.delete(&format!("/sandboxes/{id}")).await;
    assert_eq!(reply.status, 204, "kill: {}", reply.text);
}

/// Makes sandboxes number `from..to` (in `attrs_for` terms), `CONCURRENCY` at a time.
async fn create_many(api: &Api, from: usize, to: usize) -> Vec<(String, Attrs)> {
    futures_util::stream::iter(from..to)
        .map(|n| async move {
            let a = attrs_for(n);
            (create(api, a).await, a)
        })
        .buffer_unordered(CONCURRENCY)
        .collect()
        .await
}

struct Filter {
    name: &'static str,
    query: String,
    matches: fn(&Attrs) -> bool,
}

struct Outcome {
    pages: usize,
    seen: usize,
    must_see: usize,
}

/// One listing under churn. `live` is every sandbox of the team and what it is; it comes back
/// with the churn applied.
async fn page_under_churn(
    api: &Api,
    live: &mut HashMap<String, Attrs>,
    next_n: &mut usize,
    order: &str,
    filter: &Filter,
    rng: &mut Rng,
) -> Outcome {
    let matching = live.values().filter(|a| (filter.matches)(a)).count();
    // Spread the churn over the first half or so of the pages, so that all of it happens while
    // the listing runs, whatever the filter leaves.
    let churn_pages = (matching / LIMIT / 2).max(1);
    let kills_per_page = KILLED.div_ceil(churn_pages);
    let adds_per_page = ADDED.div_ceil(churn_pages);

    let mut victims: Vec<String> = live.keys().cloned().collect();
    victims.sort();
    rng.shuffle(&mut victims);
    victims.truncate(KILLED);
    let before: HashSet<String> = live.keys().cloned().collect();
    let (mut killed, mut added) = (HashSet::new(), HashMap::new());
    // Made after the first page was answered (the first round's may precede it).
    let mut later = HashSet::new();
    let mut added_todo = ADDED;

    let base = format!("{}&order={order}&limit={LIMIT}", filter.query);
    let mut seen: Vec<String> = Vec::new();
    let mut token: Option<String> = None;
    let mut pages = 0;
    loop {
        let q = match &token {
            Some(t) => format!("{base}&nextToken={t}"),
            None => base.clone(),
        };
        let kills: Vec<String> = victims.drain(..kills_per_page.min(victims.len())).collect();
        let adds = adds_per_page.min(added_todo);
        added_todo -= adds;
        let from = *next_n;
        *next_n += adds;
        // The page is asked for while this round's kills and creates are under way.
        let ((ids, next), (), made) = tokio::join!(
            api.page(&q),
            futures_util::stream::iter(kills.iter())
                .for_each_concurrent(CONCURRENCY, |id| kill(api, id)),
            create_many(api, from, from + adds),
        );
        pages += 1;
        assert!(ids.len() <= LIMIT);
        if next.is_some() {
            assert_eq!(ids.len(), LIMIT, "only the last page may be short");
        }
        seen.extend(ids);
        killed.extend(kills);
        if pages > 1 {
            later.extend(made.iter().map(|(id, _)| id.clone()));
        }
        added.extend(made);
        match next {
            Some(t) => token = Some(t),
            None => break,
        }
    }
    let what = format!("{order}, {}", filter.name);
    assert!(
        victims.is_empty() && added_todo == 0,
        "{what}: the listing ended before the churn did ({pages} pages)"
    );

    let seen_set: HashSet<&String> = seen.iter().collect();
    assert_eq!(
        seen_set.len(),
        seen.len(),
        "{what}: {} sandboxes were listed twice",
        seen.len() - seen_set.len()
    );
    let survivors: Vec<&String> = before
        .iter()
        .filter(|id| !killed.contains(*id) && (filter.matches)(&live[*id]))
        .collect();
    let skipped: Vec<&&String> = survivors
        .iter()
        .filter(|id| !seen_set.contains(**id))
        .collect();
    assert!(
        skipped.is_empty(),
        "{what}: {} of {} survivors were skipped, e.g. {:?}",
        skipped.len(),
        survivors.len(),
        skipped.first()
    );
    for id in &seen {
        let matches = match (live.get(id), added.get(id)) {
            (Some(a), _) => (filter.matches)(a),
            // One made during the listing runs until its pause: either state may be listed.
            (None, Some(a)) => [false, true]
                .iter()
                .any(|&paused| (filter.matches)(&Attrs { paused, ..*a })),
            (None, None) => panic!("{what}: {id} is not a sandbox of this test"),
        };
        assert!(matches, "{what}: {id} does not match");
    }
    // Newest first never reaches what was made after its first page.
    if order == "desc" {
        assert!(seen.iter().all(|id| !later.contains(id)), "{what}");
    }

    for id in &killed {
        live.remove(id);
    }
    live.extend(added);
    Outcome {
        pages,
        seen: seen.len(),
        must_see: survivors.len(),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ten_thousand_sandboxes_page_exactly_once_under_churn() {
    let server = start_server().await;
    let api = Api::new(&server.url(), KEY_A);
    let started = Instant::now();
    let mut live: HashMap<String, Attrs> =
        create_many(&api, 0, POPULATION).await.into_iter().collect();
    let mut next_n = POPULATION;
    println!(
        "made {POPULATION} sandboxes in {:.1} s",
        started.elapsed().as_secs_f64()
    );

    let filters = [
        Filter {
            name: "no filter",
            query: String::new(),
            matches: |_| true,
        },
        Filter {
            name: "metadata color=red",
            query: metadata_query(&[("color", "red")]),
            matches: |a| a.color == Color::Red,
        },
        Filter {
            name: "state=paused",
            query: "state=paused".into(),
            matches: |a| a.paused,
        },
        Filter {
            name: "state=running, metadata color=blue",
            query: format!("state=running&{}", metadata_query(&[("color", "blue")])),
            matches: |a| !a.paused && a.color == Color::Blue,
        },
    ];
    let mut rng = Rng(0x5eed_cafe_f00d_d00d);
    for filter in &filters {
        for order in ["desc", "asc"] {
            let t = Instant::now();
            let out = page_under_churn(&api, &mut live, &mut next_n, order, filter, &mut rng).await;
            println!(
                "{order}, {}: {} pages, {} listed, {} survivors all seen, 0 twice, \
                 {KILLED} killed and {ADDED} made meanwhile, {:.1} s",
                filter.name,
                out.pages,
                out.seen,
                out.must_see,
                t.elapsed().as_secs_f64()
            );
            // Back to the full population for the next listing.
            let short = POPULATION.saturating_sub(live.len());
            live.extend(create_many(&api, next_n, next_n + short).await);
            next_n += short;
        }
    }
    println!("whole test {:.1} s", started.elapsed().as_secs_f64());
    server.shutdown().await;
}
