//! Recording a command live and reading its report back, for the live read-site tests.
#![allow(dead_code)] // each test file takes the parts it needs

use std::{ffi::OsStr, path::Path, process::Command};

use serde_json::Value;

pub const BIN: &str = env!("CARGO_BIN_EXE_pmuwatch");

pub fn is_root() -> bool {
    // SAFETY: no preconditions.
    unsafe { libc::geteuid() == 0 }
}

/// `pmuwatch record EXTRA -o TRACE -- CMD` (in `cwd` when given); fails the test with the
/// recorder's stderr when it fails; returns the command's stdout.
pub fn record(extra: &[&str], trace: &Path, cmd: &[&OsStr], cwd: Option<&Path>) -> Vec<u8> {
    let mut c = Command::new(BIN);
    if let Some(d) = cwd {
        c.current_dir(d);
    }
    let out = c
        .arg("record")
        .args(extra)
        .arg("-o")
        .arg(trace)
        .arg("--")
        .args(cmd)
        .output()
        .expect("pmuwatch record runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    out.stdout
}

/// `pmuwatch report --json TRACE`.
pub fn report_json(trace: &Path) -> Value {
    let rep = Command::new(BIN)
        .args(["report", "--json"])
        .arg(trace)
        .output()
        .expect("pmuwatch report runs");
    assert!(
        rep.status.success(),
        "{}",
        String::from_utf8_lossy(&rep.stderr)
    );
    serde_json::from_slice(&rep.stdout).expect("report --json is JSON")
}
