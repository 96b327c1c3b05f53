//! System-wide tracing keeps the kernel filter of issue 8 honest (root only; skipped with a
//! message otherwise): with every task a target, the syscall probes and `sched_switch` let
//! processes that never opened a perf event go without a record, and a perf user loses
//! nothing. `pmuwatch demo --careless` runs beside a pipe that reads and switches a lot:
//!
//! - the demo's reads, closes, mmaps and munmaps of its perf pages are reported exactly;
//! - no `PerfRead` / `Munmap` / `PerfClose` / `Migrate` of a process that did not open a perf
//!   event;
//! - no context switch between two such processes unless the CPU's access state changed.
//!
//! "Opened a perf event" is judged by the kernel's own marks (`PERF_USERS`, set at
//! `perf_event_open`; other processes on this machine may open events meanwhile), per slot
//! (tgid modulo 65536, which two processes may share); every `PerfOpen` record must be marked.

use std::{
    collections::BTreeSet,
    process::{Command, Stdio},
    time::Duration,
};

use aya::maps::{Array, PerCpuArray, RingBuf};
use common::Event;
use pmuwatch::probe::loader::{self, LoadOptions};
use serde_json::Value;

/// The kernel's slot of a tgid (probe-ebpf/src/maps.rs `PERF_USERS`).
fn slot(tgid: u32) -> u32 {
    tgid & 0xffff
}

fn n(v: &Value, key: &str) -> u64 {
    v["total"][key]
        .as_u64()
        .unwrap_or_else(|| panic!("demo report lacks total.{key}"))
}

#[test]
fn only_perf_users_are_recorded_system_wide_and_completely() {
    // SAFETY: no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        eprintln!("skipped: loading eBPF programs needs root");
        return;
    }
    let mut probes = loader::load(LoadOptions {
        system_wide: true,
        ..Default::default()
    })
    .expect("load and attach the probes system-wide");
    let mut ring = RingBuf::try_from(probes.ebpf.take_map("EVENTS").expect("EVENTS")).unwrap();

    // The bystander: a pipe that reads one byte at a time (a read(2) and a switch each).
    let mut pipe = Command::new("sh")
        .args([
            "-c",
            "dd if=/dev/zero bs=1 count=20000 status=none | cat > /dev/null",
        ])
        .spawn()
        .expect("spawn the pipe");
    let demo = Command::new(env!("CARGO_BIN_EXE_pmuwatch"))
        .args(["demo", "--careless", "--duration", "1", "--threads", "2"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn pmuwatch demo");
    let demo_pid = demo.id();

    let mut events = Vec::new();
    let out = {
        let waiter = std::thread::spawn(move || demo.wait_with_output());
        while !waiter.is_finished() {
            while let Some(item) = ring.next() {
                events.push(common::decode(&item).expect("decodable record"));
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        waiter.join().expect("waiter").expect("demo output")
    };
    let _ = pipe.wait();
    while let Some(item) = ring.next() {
        events.push(common::decode(&item).expect("decodable record"));
    }
    assert!(out.status.success(), "demo failed: {}", out.status);
    let drops: PerCpuArray<_, u64> =
        PerCpuArray::try_from(probes.ebpf.map("DROPS").expect("DROPS")).unwrap();
    let dropped: u64 = drops.get(&0, 0).expect("DROPS[0]").iter().sum();
    assert_eq!(dropped, 0, "records dropped: no exact comparison possible");

    // The kernel's marks after the last drain: every record read so far was written after its
    // process's mark (marks are never cleared). A process still inside perf_event_open at the
    // end is marked without a `PerfOpen` record yet, so the records alone would not do.
    let marks: Array<_, u32> =
        Array::try_from(probes.ebpf.map("PERF_USERS").expect("PERF_USERS")).expect("PERF_USERS");
    let seen: BTreeSet<u32> = events
        .iter()
        .flat_map(|e| match e {
            Event::SchedSwitch(s) => vec![slot(s.h.pid), slot(s.prev_pid)],
            _ => vec![slot(e.header().pid)],
        })
        .chain([slot(demo_pid)])
        .collect();
    let marked: BTreeSet<u32> = seen
        .into_iter()
        .filter(|i| marks.get(i, 0).is_ok_and(|v| v != 0))
        .collect();
    for e in &events {
        if let Event::PerfOpen(o) = e {
            assert!(marked.contains(&slot(o.h.pid)), "{o:?} without a mark");
        }
    }
    assert!(marked.contains(&slot(demo_pid)), "the demo is marked");
    let perf_user = |tgid: u32| marked.contains(&slot(tgid));

    // Nothing of processes without perf events.
    let mut switches = 0;
    for e in &events {
        let h = e.header();
        match e {
            Event::PerfRead(_)
            | Event::Munmap(_)
            | Event::PerfClose(_)
            | Event::PerfMmap(_)
            | Event::Migrate(_) => {
                assert!(perf_user(h.pid), "{e:?} of a process without perf events");
            }
            Event::SchedSwitch(s) => {
                switches += 1;
                assert!(
                    perf_user(h.pid) || perf_user(s.prev_pid) || s.access != s.prev_access,
                    "{s:?}: a switch between processes without perf events, access unchanged"
                );
            }
            _ => {}
        }
    }
    assert!(switches > 0, "the demo's own switches are recorded");

    // Everything of the demo.
    let report: Value = serde_json::from_slice(&out.stdout).expect("demo JSON on stdout");
    let of_demo = |f: &dyn Fn(&Event) -> bool| {
        events
            .iter()
            .filter(|e| e.header().pid == demo_pid && f(e))
            .count() as u64
    };
    let ok_open = of_demo(&|e| matches!(e, Event::PerfOpen(o) if o.ret >= 0));
    assert_eq!(ok_open, n(&report, "opens_ok"), "opens_ok");
    let reads = of_demo(&|e| matches!(e, Event::PerfRead(_)));
    assert_eq!(reads, n(&report, "read_syscalls"), "read_syscalls");
    let closes = of_demo(&|e| matches!(e, Event::PerfClose(_)));
    assert_eq!(closes, n(&report, "closes"), "closes");
    let mmaps = of_demo(&|e| matches!(e, Event::PerfMmap(m) if m.ret >= 0));
    assert_eq!(mmaps, n(&report, "mmaps"), "mmaps");
    let pages: BTreeSet<u64> = events
        .iter()
        .filter_map(|e| match e {
            Event::PerfMmap(m) if m.h.pid == demo_pid && m.ret >= 0 => Some(m.ret as u64),
            _ => None,
        })
        .collect();
    if n(&report, "migrations") > 0 {
        assert!(
            of_demo(&|e| matches!(e, Event::Migrate(_))) > 0,
            "the demo's migrations"
        );
    }
    let munmaps =
        of_demo(&|e| matches!(e, Event::Munmap(m) if m.ret == 0 && pages.contains(&m.addr)));
    assert_eq!(munmaps, n(&report, "munmaps"), "munmaps");
}
