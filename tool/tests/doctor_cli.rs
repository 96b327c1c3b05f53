//! `pmuwatch doctor` run as a binary: live on this machine (as root and as an unprivileged
//! user) and on fixture trees.

use std::{
    os::unix::{fs::PermissionsExt, process::CommandExt},
    path::PathBuf,
    process::{Command, Output},
};

use serde_json::Value;

fn pmuwatch() -> Command {
    Command::new(env!("CARGO_BIN_EXE_pmuwatch"))
}

fn fixture(name: &str) -> String {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name)
        .display()
        .to_string()
}

fn run(cmd: &mut Command) -> Output {
    let out = cmd.output().expect("run pmuwatch");
    assert!(
        out.status.success(),
        "pmuwatch failed: {}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

fn json(cmd: &mut Command) -> Value {
    let out = run(cmd);
    serde_json::from_slice(&out.stdout).expect("doctor --json prints JSON")
}

fn is_root() -> bool {
    // SAFETY: geteuid has no preconditions and cannot fail.
    unsafe { libc::geteuid() == 0 }
}

fn attach_status(r: &Value, method: &str) -> String {
    r["facts"]["attach"]
        .as_array()
        .expect("attach array")
        .iter()
        .find(|a| a["method"] == method)
        .unwrap_or_else(|| panic!("no {method} entry"))["status"]
        .as_str()
        .expect("status string")
        .to_string()
}

fn codes(r: &Value) -> Vec<String> {
    r["verdicts"]
        .as_array()
        .expect("verdicts")
        .iter()
        .map(|v| v["code"].as_str().expect("code").to_string())
        .collect()
}

/// The project's reference machine (this VM, and CI): x86_64, no hardware PMU, kprobes not
/// built in, fentry refused, tp_btf/tracepoint/uprobe working. Set
/// PMUWATCH_NOT_REFERENCE_VM=1 to skip on other machines.
#[test]
fn live_as_root_on_the_reference_vm() {
    if !is_root() || std::env::var_os("PMUWATCH_NOT_REFERENCE_VM").is_some() {
        eprintln!("skipped: needs root on the reference VM");
        return;
    }
    let r = json(pmuwatch().args(["doctor", "--json"]));
    assert_eq!(r["as_root"], true);
    assert_eq!(r["facts"]["arch"], "x86_64");
    let core: Vec<&Value> = r["facts"]["pmus"]
        .as_array()
        .expect("pmus")
        .iter()
        .filter(|p| p["core"] == true)
        .collect();
    assert!(core.is_empty(), "no hardware PMU expected: {core:?}");
    assert!(codes(&r).contains(&"no_hw_pmu".to_string()));
    assert_eq!(r["facts"]["kprobes"], false);
    assert_eq!(attach_status(&r, "kprobe"), "refused");
    assert_eq!(attach_status(&r, "fentry"), "refused");
    assert_eq!(attach_status(&r, "fexit"), "refused");
    for m in ["tp_btf", "tracepoint", "raw_tp", "uprobe"] {
        assert_eq!(attach_status(&r, m), "works", "{m}");
    }
    let kprobe = r["facts"]["attach"]
        .as_array()
        .and_then(|a| a.iter().find(|a| a["method"] == "kprobe"))
        .expect("kprobe");
    assert!(
        kprobe["reason"]
            .as_str()
            .is_some_and(|s| s.starts_with("not built in")),
        "{kprobe}"
    );
}

#[test]
fn live_text_output_names_the_verdicts() {
    let out = run(pmuwatch().args(["doctor", "--no-attach"]));
    let text = String::from_utf8_lossy(&out.stdout);
    for section in ["kernel", "cpus", "pmus", "sysctl", "attach", "verdict"] {
        assert!(
            text.lines().any(|l| l.starts_with(section)),
            "{section}:\n{text}"
        );
    }
    assert!(text.contains("skipped (--no-attach)"), "{text}");
}

/// Without root: the file facts still come out, attach checks say why not, exit 0.
#[test]
fn without_root_it_reports_what_it_could_not_check() {
    let mut cmd = pmuwatch();
    // As root, drop to nobody, running a copy the unprivileged user can reach (the checkout
    // may sit under a private home directory).
    let dir = std::env::temp_dir().join(format!("pmuwatch-doctor-test-{}", std::process::id()));
    if is_root() {
        std::fs::create_dir_all(&dir).expect("temp dir");
        let exe = dir.join("pmuwatch");
        std::fs::copy(env!("CARGO_BIN_EXE_pmuwatch"), &exe).expect("copy binary");
        for p in [&dir, &exe] {
            std::fs::set_permissions(p, std::fs::Permissions::from_mode(0o755)).expect("chmod");
        }
        cmd = Command::new(&exe);
        cmd.current_dir("/").uid(65534).gid(65534);
    }
    cmd.args(["doctor", "--json"]);
    let r = json(&mut cmd);
    let _ = std::fs::remove_dir_all(&dir);
    assert_eq!(r["as_root"], false);
    assert!(!r["facts"]["kernel"].as_str().unwrap_or("").is_empty());
    for a in r["facts"]["attach"].as_array().expect("attach") {
        assert_eq!(a["status"], "not_checked", "{a}");
        assert_eq!(a["reason"], "needs root");
    }
    let nc = r["not_checked"].as_array().expect("not_checked");
    assert!(
        nc.iter()
            .any(|n| n.as_str().is_some_and(|s| s.contains("needs root"))),
        "{nc:?}"
    );
}

#[test]
fn arm64_lab_fixture_tells_how_to_pin_and_enable() {
    let r = json(pmuwatch().args(["doctor", "--json", "--root", &fixture("arm64-hetero")]));
    let text = |code: &str| {
        r["verdicts"]
            .as_array()
            .and_then(|v| v.iter().find(|v| v["code"] == code))
            .and_then(|v| v["text"].as_str())
            .unwrap_or_else(|| panic!("no {code} verdict in {r}"))
            .to_string()
    };
    let split = text("several_pmu_types");
    assert!(split.starts_with("two PMU types"), "{split}");
    assert!(split.contains("pinned to CPUs 0-1 or 2-3"), "{split}");
    assert!(split.contains("armv8_cortex_a53, type 10"), "{split}");
    let off = text("user_access_off");
    assert!(off.contains("sysctl -w kernel.perf_user_access=1"), "{off}");
    assert!(text("paranoid_blocks_users").contains("perf_event_paranoid=3"));
    for a in r["facts"]["attach"].as_array().expect("attach") {
        assert_eq!(a["status"], "not_checked");
    }
}

#[test]
fn a_root_without_system_files_fails_with_cause_and_fix() {
    let out = pmuwatch()
        .args(["doctor", "--root", "/nonexistent/pmuwatch"])
        .output()
        .expect("run pmuwatch");
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(
        err.contains("no system files under") && err.contains("fix:"),
        "{err}"
    );
}
