//! Readers a shell starts (the arm64 lab's `leftopen`, here on x86), under
//! `sh -c '<demo> && <demo>'`: they are probed once their exec is seen (reads before that are
//! missed), and with `--hold-exec` (each process held at exec until its image is probed) from
//! their first read: every counter read the demos executed has its direct-read record, and no
//! process is left stopped. Needs root; on a machine without a PMU the careless demo's reads
//! all trap, with a PMU most are ok: either way each executed read is counted.

use std::time::Duration;

use common::Event;
use pmuwatch::probe::{End, LiveSource, SourceOptions};

#[tokio::test(flavor = "current_thread")]
async fn readers_a_shell_starts_are_probed_and_with_hold_exec_from_their_first_read() {
    // SAFETY: no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        eprintln!("skipped: needs root");
        return;
    }
    // Without: the first demo's image is probed while it runs; the second starts seconds
    // later, from a file probed by then, and is seen whole.
    let (seen, executed) = run(false, "sleep 5").await;
    assert!(
        seen >= executed[1] && seen <= executed[0] + executed[1],
        "without --hold-exec: {seen} reads seen, the demos ran {executed:?}"
    );
    let (seen, executed) = run(true, "true").await;
    assert_eq!(
        seen,
        executed[0] + executed[1],
        "with --hold-exec: direct-read records vs counter reads the demos ran"
    );
}

/// Direct-read records, and the counter reads each demo executed; `between` runs between
/// the two demos.
async fn run(hold_exec: bool, between: &str) -> (u64, [u64; 2]) {
    let dir = std::env::temp_dir().join(format!(
        "pmuwatch-sites-shell-{}-{hold_exec}",
        std::process::id()
    ));
    std::fs::create_dir_all(&dir).unwrap();
    let counts = |i: u32| dir.join(format!("counts{i}.json"));
    let demo = |i: u32| {
        format!(
            "{} demo --careless --duration 1 --threads 2 --counts {} >/dev/null",
            env!("CARGO_BIN_EXE_pmuwatch"),
            counts(i).display()
        )
    };
    let script = format!("{} && {between} && {}", demo(1), demo(2));
    let opts = SourceOptions {
        command: vec!["sh".into(), "-c".into(), script],
        duration: Some(Duration::from_secs(120)),
        quiet_child: true,
        hold_exec,
        ..Default::default()
    };
    let mut src = LiveSource::start(&opts).unwrap();
    let mut direct = 0u64;
    let mut batch = Vec::new();
    tokio::time::timeout(Duration::from_secs(150), async {
        while src.next_batch(&mut batch).await.unwrap() {
            direct += batch
                .iter()
                .filter(|e| matches!(e, Event::DirectRead(_)))
                .count() as u64;
        }
    })
    .await
    .expect("the shell's demos did not end");
    assert_eq!(src.end(), Some(End::TargetExited));
    assert_eq!(src.exit_status().and_then(|s| s.code()), Some(0));
    assert_eq!(src.stats().lost, 0, "drops would make counts inexact");

    let mut executed = [0; 2];
    for (i, e) in executed.iter_mut().enumerate() {
        let text = std::fs::read_to_string(counts(i as u32 + 1)).unwrap();
        let v: serde_json::Value = serde_json::from_str(&text).unwrap();
        let n = |k: &str| v["total"][k].as_u64().unwrap_or_else(|| panic!("no {k}"));
        *e = n("reads_ok") + n("seq_retries") + n("careless_silent") + n("traps");
    }
    let _ = std::fs::remove_dir_all(&dir);
    assert!(executed[1] > 0, "the second demo executed no counter read");
    (direct, executed)
}
