//! Throughput of the provided JSON-file setup: 200,000 lines written through slog-async to a
//! file, with the runtime-ID drain, against the same chain without it, and with the ID as a
//! plain pre-bound pair instead.

mod support;

use criterion::{Criterion, criterion_group};
use slog::{Logger, info, o};
use support::{Comparison, Target};
use token_runtime_id::{RuntimeId, RuntimeIdConfig, setup};

const LINES: u64 = 200_000;

fn write_lines(log: &Logger) {
    for n in 0..LINES {
        info!(log, "request"; "n" => n);
    }
}

fn json_file(c: &mut Criterion) {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let path = dir.path().join("bench.jsonl");
    let id = RuntimeId::new_root(&RuntimeIdConfig::default());
    let text = id.to_string();

    let mut group = c.benchmark_group("json_file_200k");
    group.sample_size(10);
    group.throughput(criterion::Throughput::Elements(LINES));
    group.bench_function("with_runtime_id_drain", |b| {
        b.iter(|| {
            let (log, guard) = setup::json_file(&path).truncate(true).build().unwrap();
            id.scope(|| write_lines(&log));
            guard.finish().unwrap();
        })
    });
    group.bench_function("without_drain", |b| {
        b.iter(|| {
            let (log, guard) = setup::json_file(&path)
                .truncate(true)
                .without_runtime_id_drain()
                .build()
                .unwrap();
            write_lines(&log);
            guard.finish().unwrap();
        })
    });
    group.bench_function("plain_kv", |b| {
        b.iter(|| {
            let (log, guard) = setup::json_file(&path)
                .truncate(true)
                .without_runtime_id_drain()
                .build()
                .unwrap();
            write_lines(&log.new(o!("runtime_id" => text.clone())));
            guard.finish().unwrap();
        })
    });
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
            target: Target::ThroughputAtLeast(0.9),
        },
    ]);
}

criterion_group!(benches, json_file);

fn main() {
    benches();
    Criterion::default().configure_from_args().final_summary();
    report();
}
