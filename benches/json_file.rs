//! Throughput of the provided JSON-file setup: 200,000 lines written through slog-async to a
//! file, with the runtime-ID drain, against the same chain without it, and with the ID as a
//! plain pre-bound pair instead.
//!
//! Each iteration builds a fresh setup on a fresh file and times the lines from the first
//! record to `finish` (every line written and flushed); building the setup and removing the
//! file afterwards are left out of the time, as they are the same for all three. The file
//! is on `/dev/shm` (memory) where there is one, so the disk's write-back of earlier
//! iterations does not land on later ones: the chain is measured, not the disk.

mod support;

use std::path::Path;
use std::time::{Duration, Instant};

use criterion::{Criterion, criterion_group};
use slog::{Logger, info, o};
use support::{Comparison, Target};
use token_runtime_id::{RuntimeId, RuntimeIdConfig, setup};

const LINES: u64 = 200_000;

#[derive(Clone, Copy)]
enum Chain {
    /// The setup as provided: the runtime-ID drain in front of `Async`.
    WithDrain,
    /// The same chain without the runtime-ID drain.
    WithoutDrain,
    /// The chain without the drain, and the ID bound as a plain logger pair.
    PlainKv,
}

/// Builds the chain on a new file, times `LINES` records through it to `finish`.
fn time_lines(chain: Chain, path: &Path, id: &RuntimeId) -> Duration {
    let builder = setup::json_file(path).truncate(true);
    let builder = match chain {
        Chain::WithDrain => builder,
        Chain::WithoutDrain | Chain::PlainKv => builder.without_runtime_id_drain(),
    };
    let (log, guard) = builder.build().expect("a writable temporary file");
    let log: Logger = match chain {
        Chain::PlainKv => log.new(o!("runtime_id" => id.to_string())),
        Chain::WithDrain | Chain::WithoutDrain => log,
    };
    let start = Instant::now();
    id.scope(|| {
        for n in 0..LINES {
            info!(log, "request"; "n" => n);
        }
    });
    guard.finish().expect("every line written");
    let elapsed = start.elapsed();
    std::fs::remove_file(path).expect("the file can be removed");
    elapsed
}

fn json_file(c: &mut Criterion) {
    let shm = Path::new("/dev/shm");
    let dir = if shm.is_dir() {
        tempfile::tempdir_in(shm)
    } else {
        tempfile::tempdir()
    }
    .expect("a temporary directory");
    let id = RuntimeId::new_root(&RuntimeIdConfig::default());

    let mut group = c.benchmark_group("json_file_200k");
    group.sample_size(10);
    group.throughput(criterion::Throughput::Elements(LINES));
    for (name, chain) in [
        ("plain_kv", Chain::PlainKv),
        ("without_drain", Chain::WithoutDrain),
        ("with_runtime_id_drain", Chain::WithDrain),
    ] {
        let path = dir.path().join(format!("{name}.jsonl"));
        group.bench_function(name, |b| {
            b.iter_custom(|iters| (0..iters).map(|_| time_lines(chain, &path, &id)).sum())
        });
    }
    group.finish();
}

fn report() {
    support::report(&[
        Comparison {
            what: "200,000 JSON lines to a file, vs the ID as a plain pair",
            group: "json_file_200k",
            ours: "with_runtime_id_drain",
            baseline: "plain_kv",
            target: Target::ThroughputAtLeast(0.9),
        },
        Comparison {
            what: "200,000 JSON lines to a file, vs no ID at all",
            group: "json_file_200k",
            ours: "with_runtime_id_drain",
            baseline: "without_drain",
            target: Target::Reference,
        },
    ]);
}

criterion_group!(benches, json_file);

fn main() {
    benches();
    Criterion::default().configure_from_args().final_summary();
    report();
}
