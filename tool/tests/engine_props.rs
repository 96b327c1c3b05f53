//! Properties of the engine on generated streams: no panic on anything, totals that do not
//! depend on how tasks interleave, and counts that double when a stream is fed twice.

use common::{Event, Kind, decode, decode::event};
use pmuwatch::engine::{Counts, Engine, Facts, examples, script};
use proptest::prelude::*;

/// Size of each record kind, from a default record.
fn kind_size(k: Kind) -> usize {
    let mut b = [0u8; 256];
    b[0..2].copy_from_slice(&(k as u16).to_ne_bytes());
    match decode(&b) {
        Err(common::DecodeError::BadSize { expected, .. }) => expected as usize,
        _ => 0,
    }
}

/// Any record: a kind, then random bytes for every field; `small` folds ids into a few
/// values so records about the same tasks, CPUs and fds meet.
fn any_event() -> impl Strategy<Value = Event> {
    (
        0..Kind::ALL.len(),
        prop::collection::vec(any::<u8>(), 256),
        any::<bool>(),
    )
        .prop_map(|(k, mut bytes, small)| {
            let kind = Kind::ALL[k];
            let size = kind_size(kind);
            bytes[0..2].copy_from_slice(&(kind as u16).to_ne_bytes());
            bytes[2..4].copy_from_slice(&(size as u16).to_ne_bytes());
            if small {
                bytes[4] %= 6; // cpu
                bytes[5..8].fill(0);
                bytes[16] %= 4; // pid
                bytes[17..20].fill(0);
                bytes[20] = bytes[16] + bytes[20] % 2; // tid
                bytes[21..24].fill(0);
            }
            decode(&bytes[..size]).unwrap_or_else(|_| event(common::Lost::default()))
        })
}

fn any_facts() -> impl Strategy<Value = Facts> {
    prop_oneof![
        Just(Facts::default()),
        Just(examples::x86_no_pmu()),
        Just(examples::arm64_homogeneous()),
        Just(examples::arm64_hetero()),
    ]
}

/// One thing a well-behaved reader does.
#[derive(Clone, Debug)]
enum Op {
    Open { hw: bool },
    Mmap,
    Read,
    Direct { counter: u32 },
    DirectThenTrap,
    Trap,
    Migrate { to: u32 },
    Ioctl { enable: bool },
    Close,
    Lost { n: u64 },
    Sample { index: u32, lock: u32 },
    ReaderCall,
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        any::<bool>().prop_map(|hw| Op::Open { hw }),
        Just(Op::Mmap),
        Just(Op::Read),
        (0u32..3).prop_map(|c| Op::Direct {
            counter: if c == 2 { 31 } else { c }
        }),
        Just(Op::DirectThenTrap),
        Just(Op::Trap),
        (0u32..4).prop_map(|to| Op::Migrate { to }),
        any::<bool>().prop_map(|enable| Op::Ioctl { enable }),
        Just(Op::Close),
        (1u64..5).prop_map(|n| Op::Lost { n }),
        ((0u32..3), (0u32..4)).prop_map(|(index, lock)| Op::Sample { index, lock }),
        Just(Op::ReaderCall),
    ]
}

/// The script lines of task `i` doing `ops`, in its own process.
fn task_lines(i: usize, ops: &[Op]) -> Vec<String> {
    let tid = 100 + i as u32;
    let mut cpu = i as u32 % 4;
    let mut out = vec![format!("0 {cpu} {tid} {tid} comm comm=t{i}")];
    for (n, op) in ops.iter().enumerate() {
        let ts = 1_000 * (n as u64 + 1);
        let p = format!("{ts} {cpu} {tid} {tid}");
        let ip = 0x400 + 4 * i as u64;
        let line = match op {
            Op::Open { hw } => format!(
                "{p} perf_open attr_type={} config=0x11 config1=0x2 ret=3",
                if *hw { 10 } else { 1 }
            ),
            Op::Mmap => format!("{p} perf_mmap fd=3 len=4096 ret=0x7f0000"),
            Op::Read => format!("{p} perf_read fd=3 ret=8"),
            Op::Direct { counter } => {
                format!("{p} direct_read ip={ip:#x} reg=pmevcntr counter={counter}")
            }
            Op::DirectThenTrap => {
                out.push(format!("{p} direct_read ip={ip:#x} reg=pmccntr counter=31"));
                format!("{p} trap signo=4 si_code=1 ip={ip:#x} word=0xd53b9d00")
            }
            Op::Trap => format!("{p} trap signo=4 si_code=1 ip={ip:#x} word=0xd53be800"),
            Op::Migrate { to } => {
                let from = cpu;
                cpu = *to;
                format!("{ts} {cpu} {tid} {tid} migrate orig_cpu={from} dest_cpu={to}")
            }
            Op::Ioctl { enable } => format!(
                "{p} perf_ioctl fd=3 cmd={} ret=0",
                if *enable { "enable" } else { "disable" }
            ),
            Op::Close => format!("{p} perf_close fd=3 ret=0"),
            Op::Lost { n } => format!("{p} lost count={n}"),
            Op::Sample { index, lock } => {
                format!("{p} page_sample fd=3 index={index} lock={lock}")
            }
            Op::ReaderCall => format!("{p} reader_call func=0 ret=0"),
        };
        out.push(line);
    }
    out
}

/// Interleaves per-task line lists, preserving each task's order, steered by `picks`.
fn interleave(tasks: &[Vec<String>], picks: &[u8]) -> String {
    let mut pos = vec![0usize; tasks.len()];
    let mut out = String::from("0 0 0 0 sysctl perf_user_access=1\n");
    let mut k = 0;
    loop {
        let live: Vec<usize> = (0..tasks.len())
            .filter(|&t| pos[t] < tasks[t].len())
            .collect();
        if live.is_empty() {
            return out;
        }
        let t = live[picks.get(k).copied().unwrap_or(0) as usize % live.len()];
        k += 1;
        out.push_str(&tasks[t][pos[t]]);
        out.push('\n');
        pos[t] += 1;
    }
}

fn run(facts: &Facts, text: &str, times: usize) -> Engine {
    let evs = script::parse(text).expect("generated script parses");
    let mut e = Engine::new(facts.clone());
    for _ in 0..times {
        e.feed_all(&evs);
    }
    e.flush();
    e
}

fn per_task(e: &Engine) -> Vec<(u32, Counts)> {
    e.task_rows()
        .into_iter()
        .map(|r| (r.tid, r.counts))
        .collect()
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 128, ..ProptestConfig::default() })]

    #[test]
    fn no_stream_makes_the_engine_panic(
        facts in any_facts(),
        evs in prop::collection::vec(any_event(), 0..200),
    ) {
        let mut e = Engine::new(facts);
        e.feed_all(&evs);
        let s = e.summary();
        e.flush();
        // Views stay consistent with what was fed.
        prop_assert_eq!(s.totals.records, evs.len() as u64);
        prop_assert_eq!(s.records.values().sum::<u64>(), evs.len() as u64);
        let _ = serde_json::to_string(&s).expect("summary serializes");
        let _ = e.cpu_lanes();
        let _ = e.findings();
    }

    #[test]
    fn any_interleaving_gives_the_same_per_task_counts(
        facts in any_facts(),
        tasks in prop::collection::vec(prop::collection::vec(op(), 0..30), 1..4),
        picks_a in prop::collection::vec(any::<u8>(), 0..200),
        picks_b in prop::collection::vec(any::<u8>(), 0..200),
    ) {
        let lines: Vec<Vec<String>> =
            tasks.iter().enumerate().map(|(i, ops)| task_lines(i, ops)).collect();
        let a = run(&facts, &interleave(&lines, &picks_a), 1);
        let b = run(&facts, &interleave(&lines, &picks_b), 1);
        prop_assert_eq!(per_task(&a), per_task(&b));
        let (ta, tb) = (a.totals(), b.totals());
        prop_assert_eq!(ta.counts.traps, tb.counts.traps);
        prop_assert_eq!(ta.counts.reads, tb.counts.reads);
        prop_assert_eq!(ta.lost, tb.lost);
        // Totals are the sum of the tasks (nothing here is untracked or folded).
        let mut sum = Counts::default();
        for (_, c) in per_task(&a) {
            sum.traps += c.traps;
            sum.fallback_reads += c.fallback_reads;
            sum.migrations += c.migrations;
            sum.perf_opens += c.perf_opens;
            sum.ioctls += c.ioctls;
            sum.reads.ok += c.reads.ok;
            sum.reads.trap += c.reads.trap;
            sum.reads.silent_wrong_pmu += c.reads.silent_wrong_pmu;
            sum.reads.seq_retry += c.reads.seq_retry;
            sum.reads.index0_fallback += c.reads.index0_fallback;
        }
        prop_assert_eq!(sum.traps, ta.counts.traps);
        prop_assert_eq!(sum.fallback_reads, ta.counts.fallback_reads);
        prop_assert_eq!(sum.migrations, ta.counts.migrations);
        prop_assert_eq!(sum.perf_opens, ta.counts.perf_opens);
        prop_assert_eq!(sum.ioctls, ta.counts.ioctls);
        prop_assert_eq!(sum.reads.total(), ta.counts.reads.total());
        prop_assert_eq!(ta.counts.traps, ta.counts.reads.trap);
        prop_assert_eq!(ta.counts.fallback_reads, ta.counts.reads.index0_fallback);
    }

    #[test]
    fn feeding_a_stream_twice_doubles_its_counts(
        facts in any_facts(),
        tasks in prop::collection::vec(prop::collection::vec(op(), 0..30), 1..4),
        picks in prop::collection::vec(any::<u8>(), 0..200),
    ) {
        let lines: Vec<Vec<String>> =
            tasks.iter().enumerate().map(|(i, ops)| task_lines(i, ops)).collect();
        let text = interleave(&lines, &picks);
        let (one, two) = (run(&facts, &text, 1).summary(), run(&facts, &text, 2).summary());
        let (a, b) = (&one.totals, &two.totals);
        prop_assert_eq!(2 * a.records, b.records);
        prop_assert_eq!(2 * a.lost, b.lost);
        let c = |x: &Counts| [
            x.traps, x.fallback_reads, x.migrations, x.perf_opens, x.ioctls, x.mmaps, x.closes,
            x.direct_reads, x.reader_calls, x.page_samples, x.reads.total(),
        ];
        prop_assert_eq!(c(&a.counts).map(|v| 2 * v), c(&b.counts));
        for (k, v) in &one.records {
            prop_assert_eq!(2 * v, two.records[k], "kind {}", k);
        }
        for (k, v) in &one.lost_per_cpu {
            prop_assert_eq!(2 * v, two.lost_per_cpu[k]);
        }
    }

    #[test]
    fn the_same_stream_gives_the_same_summary(
        facts in any_facts(),
        evs in prop::collection::vec(any_event(), 0..150),
    ) {
        let mut a = Engine::new(facts.clone());
        let mut b = Engine::new(facts);
        a.feed_all(&evs);
        b.feed_all(&evs);
        prop_assert_eq!(
            serde_json::to_string(&a.summary()).unwrap(),
            serde_json::to_string(&b.summary()).unwrap()
        );
    }
}
