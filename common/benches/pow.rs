//! TOS Hash V3: the reference implementation against the fast one, side by
//! side on a 112-byte MinerWork, reported in hashes per second.

use std::hint::black_box;
use std::time::Duration;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use tos_pool_common::pow::{self, Hasher, reference};

/// A 112-byte MinerWork with every field filled (work hash, timestamp, nonce,
/// extra_nonce, miner key), so the input is no special case.
fn miner_work() -> [u8; 112] {
    let mut work = [0u8; 112];
    for (i, byte) in work.iter_mut().enumerate() {
        *byte = (i as u8).wrapping_mul(37).wrapping_add(11);
    }
    work
}

fn tos_hash_v3(c: &mut Criterion) {
    let work = miner_work();
    let mut group = c.benchmark_group("tos_hash_v3_112B");
    group.throughput(Throughput::Elements(1));
    group.warm_up_time(Duration::from_secs(3));
    group.measurement_time(Duration::from_secs(10));
    group.sample_size(100);
    group.bench_function("reference", |b| {
        b.iter(|| reference::hash(black_box(&work)))
    });
    let mut hasher = Hasher::new();
    group.bench_function("hasher", |b| b.iter(|| hasher.hash(black_box(&work))));
    group.bench_function("pow_hash", |b| b.iter(|| pow::hash(black_box(&work))));
    group.finish();
}

criterion_group!(benches, tos_hash_v3);
criterion_main!(benches);
