//! `pmuwatch report`: the same engine numbers as feeding the stream live, findings with
//! remedies, and what was cut, in text and JSON.

use std::{path::Path, process::Command};

use common::Event;
use pmuwatch::{
    engine::{Engine, script},
    report::{self, facts},
    sys,
    trace::{Meta, Target, TraceWriter, Trailer, synth},
};

const BIN: &str = env!("CARGO_BIN_EXE_pmuwatch");

fn fixture_facts(name: &str) -> sys::Facts {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name);
    sys::Facts::read(&root)
}

fn write(path: &Path, facts: &sys::Facts, events: &[Event], per_block: usize) {
    let mut meta = Meta::now(vec!["pmuwatch".into()], Target::default());
    meta.facts = serde_json::to_value(facts).unwrap();
    meta.sites = serde_json::json!([{
        "id": 0, "file": "/opt/reader/bin/reader", "file_offset": 0x5d0, "vaddr": 0x4005d0,
        "insn": "mrs PMCCNTR_EL0", "reg": 1, "counter": 31,
        "symbol": "read_cycles+0x10", "line": "/src/reader/cycles.c:42"
    }]);
    let mut w = TraceWriter::create(path, &meta).unwrap();
    for (i, e) in events.iter().enumerate() {
        w.push(e).unwrap();
        if (i + 1) % per_block == 0 {
            w.flush_block().unwrap();
        }
    }
    w.finish(&Trailer {
        stop_reason: "test".into(),
        ..Trailer::default()
    })
    .unwrap();
}

/// A big.LITTLE story: a task opens a user-readable event on the a53 PMU, reads it, migrates
/// to an a72 CPU, reads again (trap), falls back to read(2).
const HETERO: &str = "
1ms   0 100 100 sysctl perf_user_access=1 rdpmc_mode=-1 paranoid=2
2ms   0 100 100 comm comm=reader
3ms   0 100 100 perf_open attr_type=8 config=0x11 config1=0x2 target_pid=0 cpu_arg=-1 ret=3
4ms   0 100 100 perf_mmap fd=3 prot=1 len=4096 ret=0x7f0000000000
5ms   0 100 100 sched_switch prev_pid=0 prev_tid=0 next_comm=reader access=on prev_access=off
6ms   0 100 100 direct_read ip=0x4005d0 reg=pmccntr counter=31 site=0
7ms   0 100 100 migrate orig_cpu=0 dest_cpu=2
8ms   2 100 100 sched_switch prev_pid=0 prev_tid=0 next_comm=reader access=off prev_access=off
9ms   2 100 100 direct_read ip=0x4005d0 reg=pmccntr counter=31 site=0
9.1ms 2 100 100 trap signo=4 si_code=1 ip=0x4005d0 word=0xd53b9d00
10ms  2 100 100 perf_read fd=3 count=8 ret=8
11ms  2   0   0 lost count=5
";

#[test]
fn report_numbers_equal_the_engine_fed_directly() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("t.pmw");
    let facts = fixture_facts("arm64-hetero");
    let events = script::parse(HETERO).unwrap();
    write(&path, &facts, &events, 4);

    let mut live = Engine::new(facts::from_sys(&facts));
    live.feed_all(&events);
    live.flush();
    let r = report::build(&path).unwrap();
    assert_eq!(r.summary, live.summary());
    let t = &r.summary.totals;
    assert_eq!(
        (t.counts.traps, t.counts.fallback_reads, t.counts.migrations),
        (1, 1, 1)
    );
    assert_eq!(t.lost, 5);
    assert!(
        !r.summary.findings.is_empty(),
        "a trap after a migration to the other PMU type is a finding"
    );

    // The binary: text with findings and remedies, and JSON with the same totals.
    let o = Command::new(BIN).arg("report").arg(&path).output().unwrap();
    let text = String::from_utf8_lossy(&o.stdout);
    assert!(o.status.success(), "{text}");
    for want in [
        "Findings (",
        "fix:",
        "Read sites (1):",
        "#0 mrs PMCCNTR_EL0 at read_cycles+0x10 (/src/reader/cycles.c:42) in /opt/reader/bin/reader",
        // The trap's finding names the read site behind it.
        "      at: mrs PMCCNTR_EL0 at read_cycles+0x10 (/src/reader/cycles.c:42)",
        "Tasks (1)",
        "reader",
        "CPUs (4)",
        "records lost",
        "complete",
    ] {
        assert!(text.contains(want), "missing {want:?} in\n{text}");
    }
    let o = Command::new(BIN)
        .args(["report", "--json"])
        .arg(&path)
        .output()
        .unwrap();
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v["totals"]["traps"], 1);
    assert_eq!(v["totals"]["lost"], 5);
    assert_eq!(v["tasks"][0]["records"]["trap"], 1);
    assert_eq!(v["file"]["events"], events.len());
    assert_eq!(v["file"]["damage"]["clean_end"], true);
    assert_eq!(v["recording"]["trailer"]["stop_reason"], "test");
    assert_eq!(v["recording"]["facts"]["arch"], "aarch64");
}

#[test]
fn a_damaged_trace_reports_what_was_cut_and_counts_what_survived() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("t.pmw");
    let events = synth::events(3000, 2);
    write(&path, &fixture_facts("x86-vm"), &events, 1000);
    let mut bytes = std::fs::read(&path).unwrap();
    // Damage the second block's payload, and cut the file inside the third.
    let syncs: Vec<usize> = bytes
        .windows(4)
        .enumerate()
        .filter(|(_, w)| *w == b"PWBK")
        .map(|(i, _)| i)
        .collect();
    bytes[syncs[1] + 60] ^= 1;
    bytes.truncate(syncs[2] + 100);
    std::fs::write(&path, &bytes).unwrap();

    let r = report::build(&path).unwrap();
    assert_eq!(r.summary.totals.records, 1000);
    let d = &r.file.damage;
    assert_eq!((d.bad_blocks, d.truncated_tail_bytes), (1, 100));
    assert!(!d.clean_end);
    let v = report::json_value(&r);
    assert_eq!(v["file"]["damage"]["bad_blocks"], 1);
    assert!(v["file"]["cut"].as_str().unwrap().contains("100 bytes cut"));
    let o = Command::new(BIN).arg("report").arg(&path).output().unwrap();
    let text = String::from_utf8_lossy(&o.stdout);
    assert!(text.contains("1 damaged block(s) skipped"), "{text}");
    assert!(text.contains("did not finish"), "{text}");
}

#[test]
fn a_snapshot_only_file_reports_and_a_non_trace_is_one_line() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("t.pmw");
    let mut meta = Meta::now(vec![], Target::default());
    meta.facts = serde_json::to_value(fixture_facts("x86-vm")).unwrap();
    let w = TraceWriter::create(&path, &meta).unwrap();
    w.finish(&Trailer {
        stop_reason: "could not start: tracing needs root".into(),
        ..Trailer::default()
    })
    .unwrap();
    let o = Command::new(BIN).arg("report").arg(&path).output().unwrap();
    let text = String::from_utf8_lossy(&o.stdout);
    assert!(o.status.success());
    assert!(text.contains("stop: could not start"), "{text}");
    assert!(text.contains("not recorded"), "{text}");

    let junk = dir.path().join("junk");
    std::fs::write(&junk, b"not a trace at all").unwrap();
    let o = Command::new(BIN).arg("report").arg(&junk).output().unwrap();
    assert_eq!(o.status.code(), Some(1));
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(
        err.contains("not a pmuwatch trace") && err.contains("fix:"),
        "{err}"
    );
}
