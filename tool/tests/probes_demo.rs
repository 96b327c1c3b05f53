//! The probes against the built-in workload's own counts (issue 3 acceptance, at the source
//! level): what the kernel reports for `pmuwatch demo --careless` equals what the demo counted.

use std::{collections::HashMap, time::Duration};

use common::Event;
use pmuwatch::probe::{End, LiveSource, SourceOptions};

#[tokio::test(flavor = "current_thread")]
async fn kernel_counts_match_the_demos_own_counts() {
    // SAFETY: no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        eprintln!("skipped: needs root");
        return;
    }
    let dir = std::env::temp_dir().join(format!("pmuwatch-probes-demo-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let counts_path = dir.join("counts.json");
    let opts = SourceOptions {
        command: vec![
            env!("CARGO_BIN_EXE_pmuwatch").into(),
            "demo".into(),
            "--careless".into(),
            "--duration".into(),
            "2".into(),
            "--threads".into(),
            "2".into(),
            "--counts".into(),
            counts_path.display().to_string(),
        ],
        duration: Some(Duration::from_secs(120)),
        quiet_child: true,
        ..Default::default()
    };
    let mut src = LiveSource::start(&opts).unwrap();
    let pid = src.target_pid().unwrap();
    let mut events = Vec::new();
    let mut batch = Vec::new();
    tokio::time::timeout(Duration::from_secs(150), async {
        while src.next_batch(&mut batch).await.unwrap() {
            events.extend(batch.iter().copied());
        }
    })
    .await
    .expect("demo session did not end");
    assert_eq!(src.end(), Some(End::TargetExited));
    assert_eq!(src.exit_status().and_then(|s| s.code()), Some(0));
    assert_eq!(src.stats().lost, 0, "drops would make counts inexact");
    assert_eq!(src.stats().undecodable, 0);

    let text = std::fs::read_to_string(&counts_path).unwrap();
    let _ = std::fs::remove_dir_all(&dir);
    let demo: serde_json::Value = serde_json::from_str(&text).unwrap();
    let total = &demo["total"];
    let n = |k: &str| {
        total[k]
            .as_u64()
            .unwrap_or_else(|| panic!("no {k} in {total}"))
    };

    let mut seen: HashMap<&str, u64> = HashMap::new();
    for e in events.iter().filter(|e| e.header().pid == pid) {
        *seen.entry(e.kind().name()).or_default() += 1;
    }
    let s = |k: &str| seen.get(k).copied().unwrap_or(0);
    eprintln!("demo: {total}\nseen: {seen:?}");
    let cov = src.coverage();
    let active = |sig: &str| cov.in_use(sig).is_some();
    if active("traps") {
        assert_eq!(s("trap"), n("traps"), "traps");
    }
    if active("perf_event_open") {
        assert_eq!(s("perf_open"), n("opens_ok") + n("opens_failed"), "opens");
    }
    if active("perf_ioctl") {
        assert_eq!(s("perf_ioctl"), n("ioctls"), "ioctls");
    }
    if active("perf_read") {
        assert_eq!(s("perf_read"), n("read_syscalls"), "fallback reads");
    }
    // The demo sees a CPU change between two read rounds; the kernel reports every move.
    assert!(
        s("migrate") >= n("migrations"),
        "kernel migrations {} < demo's {}",
        s("migrate"),
        n("migrations")
    );
    // Its reader threads were forked (threads are clones of the group) and switched.
    let threads = events
        .iter()
        .filter(|e| matches!(e, Event::Fork(f) if f.h.pid == pid && f.child_pid == pid))
        .count();
    assert!(threads >= 2, "{threads} thread clones");
    assert!(s("sched_switch") > 0);
}
