//! Engine throughput (records/s through `feed`, goal 5 M/s on one core) and the cost of the
//! views a TUI queries every 100 ms with 10,000 tasks.
//!
//! `cargo bench -p tool --bench engine`

use std::hint::black_box;

use common::{
    DirectRead, Event, Migrate, PageSample, PerfIoctl, PerfMmap, PerfOpen, PerfRead, ReadReg,
    SchedSwitch, Trap, decode::event, header_for,
};
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use pmuwatch::engine::{Engine, TaskSort, examples};

/// xorshift: a fixed, dependency-free pseudo-random sequence.
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

/// A stream like a busy demo on the two-PMU arm64 lab: `threads` readers in 8 processes, each
/// with one a53 event, switching, migrating, reading directly (some trapping), falling back,
/// toggling with ioctl. Opens come first.
fn synthetic(threads: u32, n: usize) -> Vec<Event> {
    let mut r = Rng(0x9e37_79b9_7f4a_7c15);
    let mut out = Vec::with_capacity(n + 2 * threads as usize);
    let mut ts = 1_000u64;
    let tid = |i: u32| 1000 + i;
    let pid = |i: u32| 1000 + (i % 8);
    for i in 0..threads {
        let (p, t) = (pid(i), tid(i));
        let mut o = PerfOpen {
            h: header_for::<PerfOpen>(0, ts, p, t),
            attr_type: 10,
            config: 0x11,
            config1: 2,
            target_pid: 0,
            cpu_arg: -1,
            group_fd: -1,
            ret: 3 + (i / 8) as i64,
            ..Default::default()
        };
        o.h.ts_ns = ts;
        out.push(event(o));
        out.push(event(PerfMmap {
            h: header_for::<PerfMmap>(0, ts, p, t),
            fd: 3 + (i / 8) as i32,
            len: 4096,
            ret: 0x7f00_0000 + i as i64 * 4096,
            ..Default::default()
        }));
        ts += 100;
    }
    while out.len() < n {
        ts += 50 + r.below(200);
        let i = r.below(threads as u64) as u32;
        let (p, t) = (pid(i), tid(i));
        let cpu = r.below(4) as u32;
        let fd = 3 + (i / 8) as i32;
        let ev = match r.below(100) {
            0..40 => event(SchedSwitch {
                h: header_for::<SchedSwitch>(cpu, ts, p, t),
                prev_tid: tid(r.below(threads as u64) as u32),
                access: (r.below(2)) as u8,
                prev_access: 2,
                involves_target: 1,
                ..Default::default()
            }),
            40..70 => event(DirectRead {
                h: header_for::<DirectRead>(cpu, ts, p, t),
                ip: 0x4008a0,
                site: 0,
                reg: ReadReg::Pmccntr as u32,
                counter: 31,
                ..Default::default()
            }),
            70..75 => event(Migrate {
                h: header_for::<Migrate>(cpu, ts, p, t),
                orig_cpu: cpu,
                dest_cpu: (cpu + 1) % 4,
            }),
            75..85 => event(PerfRead {
                h: header_for::<PerfRead>(cpu, ts, p, t),
                fd,
                ret: 24,
                ..Default::default()
            }),
            85..87 => {
                let mut insn = [0u8; 16];
                insn[..4].copy_from_slice(&0xd53b9d00u32.to_le_bytes());
                event(Trap {
                    h: header_for::<Trap>(cpu, ts, p, t),
                    signo: 4,
                    si_code: 1,
                    ip: 0x4008a0,
                    insn,
                    insn_len: 4,
                    result: 1,
                })
            }
            87..90 => event(PerfIoctl {
                h: header_for::<PerfIoctl>(cpu, ts, p, t),
                fd,
                cmd: if r.below(2) == 0 { 0x2400 } else { 0x2401 },
                ..Default::default()
            }),
            _ => event(PageSample {
                h: header_for::<PageSample>(cpu, ts, p, t),
                fd,
                index: if cpu < 2 { 32 } else { 0 },
                lock: (ts / 1000) as u32,
                ..Default::default()
            }),
        };
        out.push(ev);
    }
    out
}

fn feed(c: &mut Criterion) {
    let stream = synthetic(64, 1_000_000);
    let mut g = c.benchmark_group("engine");
    g.throughput(Throughput::Elements(stream.len() as u64));
    g.sample_size(10);
    g.bench_function("feed_1M_records_64_threads", |b| {
        b.iter(|| {
            let mut e = Engine::new(examples::arm64_hetero());
            e.feed_all(&stream);
            black_box(e.records())
        })
    });
    g.finish();
}

fn views(c: &mut Criterion) {
    let stream = synthetic(10_000, 400_000);
    let mut e = Engine::new(examples::arm64_hetero());
    e.feed_all(&stream);
    assert!(e.task_count() >= 10_000);
    let mut g = c.benchmark_group("views_10k_tasks");
    g.sample_size(20);
    g.bench_function("task_rows_sorted_by_traps", |b| {
        b.iter(|| {
            let mut rows = e.task_rows();
            TaskSort::Traps.sort(&mut rows);
            black_box(rows.len())
        })
    });
    g.bench_function("cpu_lanes_findings_totals", |b| {
        b.iter(|| {
            black_box((
                e.cpu_lanes().len(),
                e.findings().len(),
                e.totals(),
                e.rates(),
            ))
        })
    });
    g.bench_function("clone_snapshot", |b| b.iter(|| black_box(e.clone())));
    g.finish();
}

criterion_group!(benches, feed, views);
criterion_main!(benches);
