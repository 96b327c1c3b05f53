//! `sys::ensure_mounts` through `pmuwatch doctor`, in a private mount namespace where tracefs
//! and bpffs have been unmounted (root only; the machine's own mounts are untouched).

use std::{io, os::unix::process::CommandExt, process::Command};

use serde_json::Value;

fn cstr(s: &str) -> std::ffi::CString {
    std::ffi::CString::new(s).expect("no NUL")
}

/// Runs `pmuwatch doctor --json` in a private mount namespace after unmounting tracefs and
/// bpffs; with `hide_sys_kernel`, an empty tmpfs also covers /sys/kernel (no BTF, no
/// tracefs mount point). `None` where mount namespaces are not allowed.
fn doctor_in_namespace(hide_sys_kernel: bool) -> Option<Value> {
    // SAFETY: geteuid has no preconditions and cannot fail.
    if unsafe { libc::geteuid() } != 0 {
        eprintln!("skipped: needs root");
        return None;
    }
    let (root, tracing, bpf) = (cstr("/"), cstr("/sys/kernel/tracing"), cstr("/sys/fs/bpf"));
    let (tmpfs, sys_kernel) = (cstr("tmpfs"), cstr("/sys/kernel"));
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_pmuwatch"));
    cmd.args(["doctor", "--json"]);
    // SAFETY: only async-signal-safe syscalls between fork and exec, on strings prepared
    // before the fork.
    unsafe {
        cmd.pre_exec(move || {
            if libc::unshare(libc::CLONE_NEWNS) != 0
                || libc::mount(
                    std::ptr::null(),
                    root.as_ptr(),
                    std::ptr::null(),
                    libc::MS_REC | libc::MS_PRIVATE,
                    std::ptr::null(),
                ) != 0
            {
                return Err(io::Error::last_os_error());
            }
            // Not mounted is fine too: the point is that they are missing now.
            libc::umount2(tracing.as_ptr(), libc::MNT_DETACH);
            libc::umount2(bpf.as_ptr(), libc::MNT_DETACH);
            if hide_sys_kernel
                && libc::mount(
                    tmpfs.as_ptr(),
                    sys_kernel.as_ptr(),
                    tmpfs.as_ptr(),
                    0,
                    std::ptr::null(),
                ) != 0
            {
                return Err(io::Error::last_os_error());
            }
            Ok(())
        });
    }
    let out = match cmd.output() {
        Ok(o) => o,
        Err(e) if e.raw_os_error() == Some(libc::EPERM) => {
            eprintln!("skipped: no mount namespaces here ({e})");
            return None;
        }
        Err(e) => panic!("spawn pmuwatch: {e}"),
    };
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    Some(serde_json::from_slice(&out.stdout).expect("JSON"))
}

fn strings(v: &Value) -> Vec<&str> {
    v.as_array()
        .expect("array")
        .iter()
        .filter_map(Value::as_str)
        .collect()
}

fn attach<'a>(r: &'a Value, method: &str) -> &'a Value {
    r["facts"]["attach"]
        .as_array()
        .and_then(|a| a.iter().find(|a| a["method"] == method))
        .unwrap_or_else(|| panic!("no {method} entry"))
}

#[test]
fn doctor_mounts_missing_tracefs_and_bpffs_and_says_so() {
    let Some(r) = doctor_in_namespace(false) else {
        return;
    };
    let notes = strings(&r["notes"]);
    assert!(
        notes.contains(&"mounted tracefs on /sys/kernel/tracing"),
        "{notes:?}"
    );
    assert!(notes.contains(&"mounted bpffs on /sys/fs/bpf"), "{notes:?}");
    assert_eq!(r["facts"]["tracefs"], "/sys/kernel/tracing");
    assert_eq!(r["facts"]["bpffs"], "/sys/fs/bpf");
    assert_eq!(attach(&r, "tracepoint")["status"], "works");
}

/// tracefs not mountable and BTF missing: findings with cause and fix, exit 0.
#[test]
fn no_tracefs_mount_point_and_no_btf_are_findings_not_failures() {
    let Some(r) = doctor_in_namespace(true) else {
        return;
    };
    let nc = strings(&r["not_checked"]);
    assert!(
        nc.iter().any(|n| n.contains("tracefs cannot be mounted")
            && n.contains("fix: use a kernel built with CONFIG_TRACING")),
        "{nc:?}"
    );
    // bpffs is still mounted although tracefs failed.
    assert_eq!(strings(&r["notes"]), ["mounted bpffs on /sys/fs/bpf"]);
    assert_eq!(r["facts"]["btf"], false);
    assert_eq!(r["facts"]["tracefs"], Value::Null);
    let codes: Vec<&str> = r["verdicts"]
        .as_array()
        .expect("verdicts")
        .iter()
        .filter_map(|v| v["code"].as_str())
        .collect();
    assert!(
        codes.contains(&"no_btf") && codes.contains(&"no_tracefs"),
        "{codes:?}"
    );
    let tp_btf = attach(&r, "tp_btf");
    assert_eq!(tp_btf["status"], "refused");
    assert!(
        tp_btf["reason"]
            .as_str()
            .is_some_and(|s| s.starts_with("no BTF")),
        "{tp_btf}"
    );
    let tracepoint = attach(&r, "tracepoint");
    assert_eq!(tracepoint["status"], "refused");
    assert!(
        tracepoint["reason"]
            .as_str()
            .is_some_and(|s| s.starts_with("no tracefs")),
        "{tracepoint}"
    );
    // raw_tp needs neither.
    assert_eq!(attach(&r, "raw_tp")["status"], "works");
}
