//! `pmuwatch export`: Perfetto output checked with Perfetto's own schema (Python package
//! `perfetto`, installed by `cargo xtask setup`), and JSON lines.

use std::{collections::BTreeMap, path::Path, process::Command};

use common::{Access, Event};
use pmuwatch::{
    cli::ExportFormat,
    export::export,
    trace::{Meta, Target, TraceWriter, Trailer, synth},
};

fn write_trace(path: &Path, events: &[Event]) {
    let mut meta = Meta::now(vec![], Target::default());
    meta.facts = serde_json::json!({"arch": "x86_64"});
    let mut w = TraceWriter::create(path, &meta).unwrap();
    for e in events {
        w.push(e).unwrap();
    }
    w.finish(&Trailer::default()).unwrap();
}

#[test]
fn perfetto_export_decodes_with_the_official_schema() {
    let dir = tempfile::tempdir().unwrap();
    let (input, output) = (dir.path().join("t.pmw"), dir.path().join("t.perfetto"));
    // 3 s of a 4-CPU, 3-thread process: every kind of track and a few counter buckets.
    let shape = synth::Shape {
        step_ns: 100_000,
        ..synth::Shape::default()
    };
    let mut synth = synth::Synth::new(shape);
    let mut events: Vec<Event> = synth.by_ref().take(30_000).collect();
    let count = |f: &dyn Fn(&Event) -> bool| events.iter().filter(|e| f(e)).count();
    let mut instants = BTreeMap::new();
    instants.insert("direct read", count(&|e| matches!(e, Event::DirectRead(_))));
    instants.insert("trap SIGSEGV", count(&|e| matches!(e, Event::Trap(_))));
    instants.insert(
        "fallback read(2)",
        count(&|e| matches!(e, Event::PerfRead(_))),
    );
    instants.insert("migrate", count(&|e| matches!(e, Event::Migrate(_))));
    instants.insert(
        "perf_event_open",
        count(&|e| matches!(e, Event::PerfOpen(_))),
    );
    let toggles = count(&|e| match e {
        Event::SchedSwitch(s) => {
            let (a, b) = (Access::from_u8(s.prev_access), Access::from_u8(s.access));
            a != b && a != Access::Unknown && b != Access::Unknown
        }
        _ => false,
    });
    let lost: u64 = events
        .iter()
        .map(|e| match e {
            Event::Lost(l) => l.count,
            _ => 0,
        })
        .sum();
    // Reads right before a trap on the same thread get a flow.
    let mut last_was_read = std::collections::HashMap::new();
    let mut read_trap = 0;
    for e in &events {
        let tid = e.header().tid;
        if matches!(e, Event::Trap(_)) && last_was_read.get(&tid) == Some(&true) {
            read_trap += 1;
        }
        last_was_read.insert(tid, matches!(e, Event::DirectRead(_)));
    }
    assert!(toggles > 0 && lost > 0 && read_trap > 0);
    events.extend(synth.exits());
    write_trace(&input, &events);

    let summary = export(&input, ExportFormat::Perfetto, &output).unwrap();
    assert!(summary.contains("packets"), "{summary}");
    let expected = serde_json::json!({
        "cpus": 4,
        "pid": 4242,
        "threads": {"4242": "synth-0", "4243": "synth-1", "4244": "synth-2"},
        "min_ts": events.iter().map(|e| e.header().ts_ns).min(),
        "max_ts": events.iter().map(|e| e.header().ts_ns).max(),
        "instants": instants,
        "counters": {"user access toggles/s": toggles, "dropped events/s": lost},
        "flows_min": read_trap,
    });
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/export_perfetto_check.py");
    let out = Command::new("python3")
        .arg(&script)
        .arg(&output)
        .arg(expected.to_string())
        .output()
        .expect("python3 runs (cargo xtask setup installs what the check needs)");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "{text}");
    assert!(text.contains("perfetto check: ok"), "{text}");
}

#[test]
fn jsonl_export_has_one_object_per_event_with_every_field() {
    let dir = tempfile::tempdir().unwrap();
    let (input, output) = (dir.path().join("t.pmw"), dir.path().join("t.jsonl"));
    let events = synth::events(2_000, 4);
    write_trace(&input, &events);
    let summary = export(&input, ExportFormat::Jsonl, &output).unwrap();
    assert!(summary.contains("2000 events"), "{summary}");
    let text = std::fs::read_to_string(&output).unwrap();
    let lines: Vec<serde_json::Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), events.len());
    for (l, e) in lines.iter().zip(&events) {
        assert_eq!(l["kind"], e.kind().name());
        assert_eq!(l["ts_ns"], e.header().ts_ns);
        assert_eq!(l["tid"], e.header().tid);
        match e {
            Event::Migrate(m) => assert_eq!(l["dest_cpu"], m.dest_cpu),
            Event::Lost(x) => assert_eq!(l["count"], x.count),
            Event::Trap(_) => assert_eq!(l["insn"], "0f33"),
            Event::Comm(_) => assert!(l["comm"].as_str().unwrap().starts_with("synth-")),
            _ => {}
        }
    }
}

#[test]
fn exporting_a_non_trace_is_a_one_line_error() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("x");
    std::fs::write(&input, b"hello").unwrap();
    let err = export(&input, ExportFormat::Perfetto, &dir.path().join("o"))
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("not a pmuwatch trace") && err.contains("fix:"),
        "{err}"
    );
}
