//! `pmuwatch record` live, as root: a finished file for a command, for a signal, and a valid
//! short file when the probes cannot start. Skipped (with a note) when not root.

use std::{
    path::Path,
    process::{Command, Output},
    time::Duration,
};

use common::Event;
use pmuwatch::trace::{TraceReader, Trailer};

const BIN: &str = env!("CARGO_BIN_EXE_pmuwatch");

fn is_root() -> bool {
    // SAFETY: no preconditions.
    unsafe { libc::geteuid() == 0 }
}

fn read(path: &Path) -> (Vec<Event>, TraceReader<std::io::BufReader<std::fs::File>>) {
    let mut r = TraceReader::open(path).unwrap();
    let evs: Vec<Event> = r.by_ref().collect();
    (evs, r)
}

fn text(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

fn trailer(r: &TraceReader<std::io::BufReader<std::fs::File>>) -> Trailer {
    r.trailer().cloned().expect("a finished file has a trailer")
}

#[test]
fn recording_a_command_gives_a_complete_file_with_its_events_and_snapshot() {
    if !is_root() {
        eprintln!("skipped: needs root");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("t.pmw");
    let o = Command::new(BIN)
        .args(["record", "-o"])
        .arg(&out)
        .args(["--", "sh", "-c", "/bin/true; /bin/true; exit 3"])
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", text(&o));
    assert!(text(&o).contains("stop: target exited"), "{}", text(&o));
    let (evs, r) = read(&out);
    assert!(
        r.damage().clean_end && !r.damage().any(),
        "{}",
        r.damage().describe()
    );
    let m = r.meta();
    assert!(
        m.facts["kernel"].as_str().is_some_and(|k| !k.is_empty()),
        "{:?}",
        m.facts
    );
    assert!(
        m.coverage["attachments"]
            .as_array()
            .is_some_and(|a| !a.is_empty())
    );
    assert_eq!(
        m.target.command,
        ["sh", "-c", "/bin/true; /bin/true; exit 3"]
    );
    let t = trailer(&r);
    assert_eq!(t.extra["target_exit_code"], 3);
    assert_eq!(t.events, evs.len() as u64);
    // The shell forks twice and execs /bin/true: the target's own lifecycle is in the file.
    let forks = evs.iter().filter(|e| matches!(e, Event::Fork(_))).count();
    let execs = evs.iter().filter(|e| matches!(e, Event::Exec(_))).count();
    assert!(forks >= 2 && execs >= 2, "forks {forks} execs {execs}");
    assert!(evs.iter().any(|e| matches!(e, Event::Sysctl(_))));
}

#[test]
fn sigterm_finishes_the_file_cleanly() {
    if !is_root() {
        eprintln!("skipped: needs root");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("t.pmw");
    let child = Command::new(BIN)
        .args(["record", "-o"])
        .arg(&out)
        .args(["--", "sleep", "60"])
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    // The signal may come during the probe load or after: both must finish the file.
    std::thread::sleep(Duration::from_millis(1500));
    // SAFETY: signalling our own child.
    unsafe { libc::kill(child.id() as i32, libc::SIGTERM) };
    let o = child.wait_with_output().unwrap();
    assert!(o.status.success(), "{}", text(&o));
    let (_, r) = read(&out);
    assert!(r.damage().clean_end, "{}", r.damage().describe());
    assert!(
        trailer(&r).stop_reason.contains("SIGTERM"),
        "{:?}",
        r.trailer()
    );
}

#[test]
fn without_root_or_target_the_error_is_one_line_and_the_file_still_reads() {
    if !is_root() {
        eprintln!("skipped: needs root (to become nobody)");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    // nobody must be able to create the file.
    std::fs::set_permissions(
        dir.path(),
        std::os::unix::fs::PermissionsExt::from_mode(0o777),
    )
    .unwrap();
    let out = dir.path().join("nobody.pmw");
    let o = Command::new("setpriv")
        .args([
            "--reuid=65534",
            "--regid=65534",
            "--clear-groups",
            BIN,
            "record",
            "-o",
        ])
        .arg(&out)
        .args(["--", "true"])
        .output()
        .unwrap();
    assert!(!o.status.success());
    let msg = text(&o);
    assert!(msg.contains("needs root") && msg.contains("fix:"), "{msg}");
    assert!(
        !msg.contains("panicked") && !msg.contains("backtrace"),
        "{msg}"
    );
    let (evs, r) = read(&out);
    assert!(evs.is_empty());
    assert!(trailer(&r).stop_reason.starts_with("could not start"));
    assert!(r.meta().facts["arch"].is_string());

    let out = dir.path().join("gone.pmw");
    let o = Command::new(BIN)
        .args(["record", "-o"])
        .arg(&out)
        .args(["-p", "999999999"])
        .output()
        .unwrap();
    assert!(!o.status.success());
    assert!(text(&o).contains("no process with pid"), "{}", text(&o));
    let (_, r) = read(&out);
    assert!(r.damage().clean_end);
}
