//! Live runs of `pmuwatch demo` (the built binary) on this machine: the JSON it prints is the
//! ground truth other tests compare the tool with, so it must add up.

use std::process::Command;

use serde_json::Value;

const BIN: &str = env!("CARGO_BIN_EXE_pmuwatch");

struct Run {
    json: Value,
    stderr: String,
}

fn demo(args: &[&str]) -> Run {
    let counts = std::env::temp_dir().join(format!(
        "pmuwatch-demo-test-{}-{}.json",
        std::process::id(),
        args.join("_").replace(['-', ' '], "")
    ));
    let out = Command::new(BIN)
        .arg("demo")
        .args(args)
        .arg("--counts")
        .arg(&counts)
        .output()
        .expect("run pmuwatch demo");
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(out.status.success(), "demo failed: {stderr}");
    let stdout = String::from_utf8(out.stdout).expect("utf-8 stdout");
    // stdout is machine-read: the JSON and nothing else.
    let json: Value = serde_json::from_str(&stdout).expect("stdout is one JSON document");
    let file = std::fs::read_to_string(&counts).expect("--counts file written");
    let _ = std::fs::remove_file(&counts);
    let from_file: Value = serde_json::from_str(&file).expect("--counts file is JSON");
    assert_eq!(json, from_file, "stdout and --counts differ");
    Run { json, stderr }
}

fn n(v: &Value, key: &str) -> u64 {
    v[key]
        .as_u64()
        .unwrap_or_else(|| panic!("missing count {key}"))
}

/// Checks that hold for any run: totals are the sums, the syscall counts are consistent with
/// the events held, every read has exactly one outcome.
fn check_consistent(j: &Value, threads: u64) {
    let t = &j["total"];
    let per = j["per_thread"].as_array().expect("per_thread");
    assert_eq!(per.len() as u64, threads);
    let keys: Vec<String> = t.as_object().expect("total").keys().cloned().collect();
    for k in keys.iter().filter(|k| t[k.as_str()].is_u64()) {
        let sum: u64 = per.iter().map(|p| n(&p["counts"], k)).sum();
        assert_eq!(n(t, k), sum, "total.{k} is not the sum over threads");
    }
    let held: u64 = per
        .iter()
        .map(|p| p["events"].as_array().expect("events").len() as u64)
        .sum();
    assert!(held > 0);
    assert_eq!(n(t, "opens_ok"), held);
    assert_eq!(n(t, "mmaps"), held);
    assert_eq!(n(t, "munmaps"), held);
    assert_eq!(n(t, "closes"), n(t, "opens_ok"));
    assert_eq!(
        n(t, "read_syscalls"),
        n(t, "index0_fallbacks") + n(t, "nocap_fallbacks")
    );
    let careful_traps = n(t, "traps") - n(t, "careless_traps");
    assert_eq!(
        n(t, "reads"),
        n(t, "reads_ok")
            + n(t, "read_syscalls")
            + n(t, "careless_reads")
            + careful_traps
            + n(t, "gave_up"),
        "every read has one outcome"
    );
    assert_eq!(
        n(t, "careless_reads"),
        n(t, "careless_silent") + n(t, "careless_traps") + n(t, "no_instruction")
    );
    let by_sig = &t["traps_by_signal"];
    assert_eq!(n(t, "traps"), n(by_sig, "SIGSEGV") + n(by_sig, "SIGILL"));
    let by_cmd = &t["ioctls_by_cmd"];
    assert_eq!(
        n(t, "ioctls"),
        n(by_cmd, "ENABLE") + n(by_cmd, "DISABLE") + n(by_cmd, "RESET")
    );
    // Every event is reset and enabled once before reading; toggles add DISABLE/ENABLE pairs.
    assert!(n(by_cmd, "ENABLE") >= held && n(by_cmd, "RESET") >= held);
    assert!(n(by_cmd, "ENABLE") >= n(by_cmd, "DISABLE"));
    assert_eq!(n(t, "ioctl_errors"), 0);
}

/// What a run of a second or so must have done: read, and moved across the CPUs it may use.
fn check_activity(j: &Value, threads: u64) {
    let t = &j["total"];
    assert!(n(t, "reads") > 0);
    if j["cpus"].as_array().expect("cpus").len() > 1 {
        assert!(n(t, "affinity_moves") >= 2 * threads, "{t}");
        assert!(n(t, "migrations") > 0, "{t}");
        assert_eq!(n(t, "affinity_errors"), 0);
    }
}

/// Software events stand in (no hardware PMU): every thread tried every hardware event first.
fn check_software_backend(j: &Value, threads: u64) {
    let t = &j["total"];
    if j["backend"] == "software" {
        let plan = &j["plan"];
        let hw = plan["hardware"].as_array().expect("plan").len() as u64;
        let sw = plan["software"].as_array().expect("plan").len() as u64;
        assert_eq!(n(t, "opens_failed"), threads * hw);
        assert_eq!(n(t, "opens_ok"), threads * sw);
        // Software events are never on a counter: every careful read falls back.
        assert_eq!(n(t, "reads_ok"), 0);
    }
}

#[test]
fn careless_demo_traps_and_falls_back_and_counts_add_up() {
    let r = demo(&["--careless", "--duration", "1", "--threads", "2"]);
    let j = &r.json;
    check_consistent(j, 2);
    check_activity(j, 2);
    check_software_backend(j, 2);
    assert_eq!(j["careless"], true);
    let t = &j["total"];
    assert!(n(t, "index0_fallbacks") > 0, "{t}");
    if j["backend"] == "software" {
        // This machine: no hardware PMU; rdpmc without CR4.PCE faults (#GP -> SIGSEGV).
        let trap_sig = if j["arch"] == "x86_64" {
            "SIGSEGV"
        } else {
            "SIGILL"
        };
        assert!(n(t, "traps") > 0, "{t}");
        assert_eq!(n(&t["traps_by_signal"], trap_sig), n(t, "traps"));
        assert_eq!(n(t, "careless_traps"), n(t, "traps"));
        assert_eq!(n(t, "careless_reads"), n(t, "traps"));
    }
    assert!(r.stderr.contains("pmuwatch demo:"), "progress on stderr");
}

#[test]
fn careful_demo_never_traps() {
    let r = demo(&["--duration", "0.5", "--threads", "1"]);
    let j = &r.json;
    check_consistent(j, 1);
    check_activity(j, 1);
    check_software_backend(j, 1);
    assert_eq!(j["careless"], false);
    let t = &j["total"];
    assert_eq!(n(t, "traps"), 0, "{t}");
    assert_eq!(n(t, "careless_reads"), 0);
    if j["backend"] == "software" {
        assert_eq!(n(t, "index0_fallbacks"), n(t, "reads"));
    }
}

#[test]
fn bad_arguments_fail_with_one_line_and_a_fix() {
    for args in [
        &["--threads", "0"][..],
        &["--duration=-1"][..],
        &["--duration", "nan"][..],
        &["--pmu", "no_such_pmu"][..],
    ] {
        let out = Command::new(BIN)
            .arg("demo")
            .args(args)
            .output()
            .expect("run pmuwatch demo");
        assert!(!out.status.success());
        assert!(out.stdout.is_empty());
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(err.trim().lines().count(), 1, "{err}");
        assert!(err.contains("fix:"), "{err}");
    }
}

/// The demo needs no privilege: as root, run a copy of the binary as `nobody` (setpriv drops
/// the uid, gid and groups). Where perf_event_paranoid forbids unprivileged events it must fail
/// with one line and a fix instead.
#[test]
fn demo_runs_without_root() {
    // SAFETY: geteuid cannot fail.
    if unsafe { libc::geteuid() } != 0 || Command::new("setpriv").arg("--help").output().is_err() {
        eprintln!("skipped: needs root and setpriv to drop to nobody");
        return;
    }
    // A copy anyone can execute: the build tree may sit under a private home.
    let dir = std::env::temp_dir().join(format!("pmuwatch-demo-nobody-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let bin = dir.join("pmuwatch");
    std::fs::copy(BIN, &bin).expect("copy binary");
    use std::os::unix::fs::PermissionsExt;
    for (p, mode) in [(&dir, 0o755), (&bin, 0o755)] {
        std::fs::set_permissions(p, std::fs::Permissions::from_mode(mode)).expect("chmod");
    }
    let out = Command::new("setpriv")
        .args(["--reuid=65534", "--regid=65534", "--clear-groups"])
        .arg(&bin)
        .args(["demo", "--careless", "--duration", "0.3", "--threads", "1"])
        .output()
        .expect("run setpriv");
    let _ = std::fs::remove_dir_all(&dir);
    let paranoid: i32 = std::fs::read_to_string("/proc/sys/kernel/perf_event_paranoid")
        .ok()
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or(2);
    let stderr = String::from_utf8_lossy(&out.stderr);
    if out.status.success() {
        let j: Value = serde_json::from_slice(&out.stdout).expect("JSON on stdout");
        check_consistent(&j, 1);
        check_software_backend(&j, 1);
    } else {
        assert!(
            paranoid > 2,
            "failed as nobody with paranoid {paranoid}: {stderr}"
        );
        assert!(out.stdout.is_empty());
        assert!(stderr.contains("fix:"), "{stderr}");
    }
}

/// A tracer stopping its target (SIGTERM) or Ctrl-C (SIGINT) still gets the counts.
#[test]
fn an_interrupted_demo_still_prints_its_counts() {
    use std::io::{BufRead, BufReader};
    let mut child = Command::new(BIN)
        .args(["demo", "--duration", "60", "--threads", "1"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("start demo");
    // The start line comes after the signals are blocked and the events are open.
    let mut stderr = BufReader::new(child.stderr.take().expect("stderr"));
    let mut line = String::new();
    while !line.contains("reader thread") {
        line.clear();
        assert!(
            stderr.read_line(&mut line).expect("stderr") > 0,
            "demo ended early"
        );
    }
    std::thread::sleep(std::time::Duration::from_millis(300));
    // SAFETY: signals our own child.
    unsafe { libc::kill(child.id() as i32, libc::SIGTERM) };
    let out = child.wait_with_output().expect("wait demo");
    assert!(out.status.success());
    let j: Value = serde_json::from_slice(&out.stdout).expect("JSON on stdout");
    assert_eq!(j["stopped_by"], "SIGTERM");
    assert!(j["elapsed_s"].as_f64().expect("elapsed_s") < 60.0);
    check_consistent(&j, 1);
    assert!(n(&j["total"], "reads") > 0);
}
