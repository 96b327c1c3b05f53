//! Read sites live (root): the demo's own `rdpmc` is found, symbolised and probed; every
//! careless read it makes is seen as a direct read and settled as the trap it raised; with
//! `--no-read-probes` the perf pages are sampled instead.

mod record_support;

use std::{ffi::OsStr, path::Path};

use record_support::{BIN, is_root, record, report_json};

use serde_json::Value;

/// Records the careless demo; returns (demo totals, report --json).
fn record_demo(extra: &[&str], tag: &str) -> (Value, Value) {
    let dir = std::env::temp_dir().join(format!("pmuwatch-sites-{tag}-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let trace = dir.join("t.pmw");
    let counts = dir.join("counts.json");
    let cmd = ["demo", "--careless", "--duration", "1.5", "--counts"].map(OsStr::new);
    let mut argv = vec![OsStr::new(BIN)];
    argv.extend(cmd);
    argv.push(counts.as_os_str());
    record(extra, &trace, &argv, None);
    let demo: Value = serde_json::from_str(&std::fs::read_to_string(&counts).unwrap()).unwrap();
    let rep = report_json(&trace);
    let _ = std::fs::remove_dir_all(&dir);
    (demo["total"].clone(), rep)
}

#[test]
fn every_careless_read_is_a_probed_direct_read_that_trapped() {
    if !is_root() {
        eprintln!("skipped: needs root");
        return;
    }
    let (demo, rep) = record_demo(&[], "uprobe");
    let totals = &rep["totals"];
    let careless = demo["careless_reads"].as_u64().unwrap();
    assert!(careless > 0, "the demo made no careless read: {demo}");
    assert_eq!(totals["direct_reads"].as_u64(), Some(careless));
    assert_eq!(totals["traps"], demo["traps"]);
    assert_eq!(totals["reads"]["trap"], demo["traps"]);
    assert_eq!(totals["reads"]["silent_wrong_pmu"].as_u64(), Some(0));
    assert_eq!(totals["reads"]["pending"].as_u64(), Some(0));
    let sites = rep["recording"]["sites"].as_array().unwrap();
    assert!(
        sites.iter().any(|s| s["insn"] == "rdpmc"
            && s["symbol"]
                .as_str()
                .is_some_and(|n| n.contains("pmuwatch_demo_read_counter"))),
        "demo read site not found: {sites:?}"
    );
    // The test build carries debug info: the site has its source line.
    assert!(
        sites.iter().any(|s| s["line"]
            .as_str()
            .is_some_and(|l| l.contains("demo/counter.rs:"))),
        "demo read site has no source line: {sites:?}"
    );
}

#[test]
fn without_read_probes_the_perf_pages_are_sampled() {
    if !is_root() {
        eprintln!("skipped: needs root");
        return;
    }
    let (demo, rep) = record_demo(&["--no-read-probes"], "sample");
    let totals = &rep["totals"];
    assert_eq!(totals["direct_reads"].as_u64(), Some(0));
    assert!(totals["page_samples"].as_u64().unwrap() > 0, "{totals}");
    // Traps are still seen by the kernel probes.
    assert_eq!(totals["traps"], demo["traps"]);
}

#[test]
fn a_command_given_by_relative_path_is_probed_once() {
    if !is_root() {
        eprintln!("skipped: needs root");
        return;
    }
    // `./pmuwatch` on the command line and its absolute name in /proc/PID/maps are one file:
    // one uprobe per site, or every read is seen twice and half are called silent.
    let bin = Path::new(BIN);
    let dir = tempfile::tempdir().unwrap();
    let trace = dir.path().join("t.pmw");
    let cmd = ["./pmuwatch", "demo", "--careless", "--duration", "1"].map(OsStr::new);
    record(&[], &trace, &cmd, bin.parent());
    let rep = report_json(&trace);
    let sites = rep["recording"]["sites"].as_array().unwrap();
    let demo_sites = sites
        .iter()
        .filter(|s| {
            s["symbol"]
                .as_str()
                .is_some_and(|n| n.contains("pmuwatch_demo_read_counter"))
        })
        .count();
    assert_eq!(demo_sites, 1, "{sites:?}");
    let totals = &rep["totals"];
    assert_eq!(
        totals["reads"]["silent_wrong_pmu"].as_u64(),
        Some(0),
        "{totals}"
    );
    assert_eq!(totals["direct_reads"], totals["traps"], "{totals}");

    // A task's name (read from /proc) goes before its first record with that record's time,
    // so evidence lists stay in time order.
    let events: Vec<common::Event> = pmuwatch::trace::open(&trace).unwrap().collect();
    let mut named = 0;
    for (i, e) in events.iter().enumerate() {
        if let common::Event::Comm(c) = e
            && let Some(next) = events[i + 1..].iter().find(|n| n.header().tid == c.h.tid)
        {
            assert!(c.h.ts_ns <= next.header().ts_ns, "{c:?} before {next:?}");
            named += 1;
        }
    }
    assert!(named > 0, "no task names recorded");
}
