//! Help search speed: latency over the shipped articles and over a generated 10,000-article knowledge
//! base, and index build time. Criterion reports means; p50/p99 are measured first, over every
//! labelled query (`tests/data/help_queries.tsv`) repeated, because the promise is about the tail.
//! Each search is timed twice: wall-clock, and the thread's CPU time, which a busy machine (other
//! builds sharing the cores preempt the search) does not inflate.
//!
//! Run: `cargo bench --bench help_search` (numbers go in `docs/PERFORMANCE.md`).
//!
//! The generated knowledge base is realistic Korean text made by recombining the shipped articles:
//! each generated article takes a title, summary and tags from shipped ones and 3 to 7 sections whose
//! headings and lines are drawn from all shipped sections, with a fixed seed so every run indexes the
//! same text. The 26 shipped articles are included, so the total is exactly 10,000.

mod common;

use std::hint::black_box;
use std::time::{Duration, Instant};

use criterion::{BenchmarkId, Criterion, SamplingMode, criterion_group};
use paydesk::help::{Audience, HelpCenter, HelpSource, SourceFile};

const GENERATED_TOTAL: usize = 10_000;
const SEED: u64 = 0x5eed_2026_1127;

/// xorshift64*: small, fast and deterministic; the bench must not depend on a crate's RNG changing.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }

    fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len())]
    }
}

/// The parts of the shipped articles that generated ones are made of.
struct Parts {
    titles: Vec<String>,
    summaries: Vec<String>,
    tags: Vec<String>,
    categories: Vec<String>,
    headings: Vec<String>,
    lines: Vec<String>,
}

/// The value of `key = "..."` in front matter.
fn front_value(front: &str, key: &str) -> Option<String> {
    front.lines().find_map(|line| {
        let rest = line
            .strip_prefix(key)?
            .trim_start()
            .strip_prefix('=')?
            .trim();
        Some(rest.trim_matches('"').to_string())
    })
}

fn parts(shipped: &[SourceFile]) -> Parts {
    let link = regex::Regex::new(r"\[([^\]]*)\]\([^)]*\)").unwrap();
    let anchor = regex::Regex::new(r"\s*\{#[^}]*\}\s*$").unwrap();
    let quoted = regex::Regex::new(r#""([^"]+)""#).unwrap();
    let mut parts = Parts {
        titles: Vec::new(),
        summaries: Vec::new(),
        tags: Vec::new(),
        categories: Vec::new(),
        headings: Vec::new(),
        lines: Vec::new(),
    };
    for file in shipped.iter().filter(|f| f.is_article()) {
        let mut pieces = file.text.splitn(3, "+++\n");
        let (_, front, body) = (
            pieces.next(),
            pieces.next().unwrap(),
            pieces.next().unwrap(),
        );
        parts.titles.push(front_value(front, "title").unwrap());
        parts.summaries.push(front_value(front, "summary").unwrap());
        parts
            .categories
            .push(front_value(front, "category").unwrap());
        if let Some(tags) = front.lines().find(|l| l.starts_with("tags")) {
            parts
                .tags
                .extend(quoted.captures_iter(tags).map(|c| c[1].to_string()));
        }
        let mut in_code = false;
        for line in body.lines() {
            if line.starts_with("```") {
                in_code = !in_code;
                continue;
            }
            if let Some(heading) = line.strip_prefix("## ") {
                parts.headings.push(anchor.replace(heading, "").to_string());
            } else if !in_code && !line.trim().is_empty() {
                // Links would point at slugs the generated base does not have: keep their text.
                parts.lines.push(link.replace_all(line, "$1").to_string());
            }
        }
    }
    parts
}

/// The shipped articles plus generated ones, `total` in all.
fn knowledge_base(total: usize) -> Vec<SourceFile> {
    let shipped = HelpSource::BuiltIn.files().unwrap();
    let parts = parts(&shipped);
    let mut rng = Rng(SEED);
    let mut files = shipped.clone();
    let generated = total - shipped.iter().filter(|f| f.is_article()).count();
    for n in 0..generated {
        let slug = format!("kb-{n:05}");
        let tags: Vec<String> = (0..6)
            .map(|_| format!("{:?}", rng.pick(&parts.tags)))
            .collect();
        let mut text = format!(
            "+++\nslug = \"{slug}\"\ntitle = {:?}\nsummary = {:?}\naudience = [\"shopper\", \"agent\"]\n\
             category = {:?}\ntags = [{}]\n+++\n\n{}\n",
            format!(
                "{} ({})",
                rng.pick(&parts.titles),
                rng.pick(&parts.headings)
            ),
            rng.pick(&parts.summaries),
            rng.pick(&parts.categories),
            tags.join(", "),
            rng.pick(&parts.lines),
        );
        for s in 0..3 + rng.below(5) {
            text.push_str(&format!("\n## {} {{#s{s}}}\n\n", rng.pick(&parts.headings)));
            for _ in 0..2 + rng.below(5) {
                let line: &String = rng.pick(&parts.lines);
                text.push_str(line);
                text.push('\n');
            }
        }
        files.push(SourceFile {
            name: format!("{slug}.md"),
            text,
        });
    }
    files
}

/// CPU time this thread has used. The one unsafe call in the project: std has no thread CPU clock.
#[allow(unsafe_code)]
fn thread_cpu_time() -> Duration {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `ts` is a valid, writable timespec and the clock id is a constant libc knows.
    let rc = unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut ts) };
    assert_eq!(rc, 0, "clock_gettime(CLOCK_THREAD_CPUTIME_ID)");
    Duration::new(ts.tv_sec as u64, ts.tv_nsec as u32)
}

fn summary(label: &str, mut samples: Vec<Duration>) -> String {
    samples.sort();
    let at = |p: f64| samples[((samples.len() as f64 * p) as usize).min(samples.len() - 1)];
    format!(
        "{label}: p50 {:?}, p90 {:?}, p99 {:?}, max {:?}",
        at(0.50),
        at(0.90),
        at(0.99),
        samples[samples.len() - 1]
    )
}

/// p50, p90, p99 and max of `rounds` passes over every query, after one warm-up pass.
fn percentiles(name: &str, help: &HelpCenter, queries: &[String], rounds: usize) {
    for q in queries {
        black_box(help.search_uncached(q, Audience::Shopper, 10));
    }
    let mut wall = Vec::with_capacity(queries.len() * rounds);
    let mut cpu = Vec::with_capacity(queries.len() * rounds);
    for _ in 0..rounds {
        for q in queries {
            let (started, started_cpu) = (Instant::now(), thread_cpu_time());
            black_box(help.search_uncached(q, Audience::Shopper, 10));
            cpu.push(thread_cpu_time() - started_cpu);
            wall.push(started.elapsed());
        }
    }
    println!("{name}: {} searches", wall.len());
    println!("  {}", summary("wall clock", wall));
    println!("  {}", summary("thread CPU time", cpu));
}

fn bench(c: &mut Criterion) {
    let queries = common::labelled_queries();
    let shipped = HelpSource::BuiltIn.files().unwrap();
    let generated = knowledge_base(GENERATED_TOTAL);

    let started = Instant::now();
    let small = HelpCenter::from_files(&shipped).unwrap();
    println!(
        "index build, shipped ({:?}): {:?}",
        small.stats(),
        started.elapsed()
    );
    let started = Instant::now();
    let large = HelpCenter::from_files(&generated).unwrap();
    println!(
        "index build, 10,000 articles ({:?}): {:?}",
        large.stats(),
        started.elapsed()
    );
    percentiles("search, shipped articles", &small, &queries, 20);
    percentiles("search, 10,000 articles", &large, &queries, 20);

    let mut group = c.benchmark_group("help_search");
    for (name, help) in [("shipped", &small), ("10k", &large)] {
        group.bench_with_input(BenchmarkId::new("search", name), help, |b, help| {
            let mut i = 0;
            b.iter(|| {
                i = (i + 1) % queries.len();
                black_box(help.search_uncached(&queries[i], Audience::Shopper, 10))
            })
        });
    }
    // The same queries answered from the answer cache, as repeated searches are.
    group.bench_function("search_cached/shipped", |b| {
        let mut i = 0;
        b.iter(|| {
            i = (i + 1) % queries.len();
            black_box(small.search(&queries[i], Audience::Shopper, 10))
        })
    });
    group.finish();

    let mut group = c.benchmark_group("help_index_build");
    group.sample_size(10);
    group.bench_function("shipped", |b| {
        b.iter(|| black_box(HelpCenter::from_files(&shipped).unwrap()))
    });
    // About 1.7 s an iteration: flat sampling, ten of them.
    group.sampling_mode(SamplingMode::Flat);
    group.measurement_time(Duration::from_secs(45));
    group.bench_function("10k", |b| {
        b.iter(|| black_box(HelpCenter::from_files(&generated).unwrap()))
    });
    group.finish();
}

criterion_group!(benches, bench);

fn main() {
    benches();
    Criterion::default().configure_from_args().final_summary();
}
