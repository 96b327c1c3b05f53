//! A reader library loaded late (dlopen after the process's first perf syscall) still gets
//! its read sites found, symbolised to its source line and probed: the live source scans the
//! targets' mappings again every half second. x86 only (the library is rdpmc); root.
#![cfg(target_arch = "x86_64")]

mod record_support;

use std::{path::Path, process::Command};

use record_support::{BIN, is_root, record, report_json};

use serde_json::Value;

fn cc(args: &[&str], dir: &Path) {
    let out = Command::new("cc")
        .args(args)
        .current_dir(dir)
        .output()
        .expect("a C compiler (cc): the Rust toolchain links with it");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn a_library_mapped_late_has_its_read_sites_probed() {
    if !is_root() {
        eprintln!("skipped: needs root");
        return;
    }
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/dlopen");
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let lib_c = src.join("librdpmc.c");
    let reader_c = src.join("reader.c");
    cc(
        &[
            "-g",
            "-O1",
            "-shared",
            "-fPIC",
            "-o",
            "librdpmc.so",
            lib_c.to_str().unwrap(),
        ],
        d,
    );
    cc(
        &[
            "-g",
            "-O1",
            "-o",
            "reader",
            reader_c.to_str().unwrap(),
            "-ldl",
        ],
        d,
    );

    let trace = d.join("t.pmw");
    let stdout = record(
        &[],
        &trace,
        &[
            d.join("reader").as_os_str(),
            d.join("librdpmc.so").as_os_str(),
        ],
        None,
    );
    let rep = report_json(&trace);

    let sites = rep["recording"]["sites"].as_array().unwrap();
    let site = sites
        .iter()
        .find(|s| {
            s["file"]
                .as_str()
                .is_some_and(|f| f.ends_with("librdpmc.so"))
        })
        .unwrap_or_else(|| panic!("the late library's site was not found: {sites:?}"));
    assert_eq!(site["insn"], "rdpmc");
    assert!(
        site["symbol"]
            .as_str()
            .is_some_and(|s| s.starts_with("lib_read_counter+")),
        "{site}"
    );
    assert!(
        site["line"]
            .as_str()
            .is_some_and(|l| l.ends_with("librdpmc.c:5")),
        "{site}"
    );

    // The reader's own count: 40 tries over two seconds, every one trapped (no PMU here).
    let own: Value = serde_json::from_slice(&stdout)
        .or_else(|_| {
            let text = String::from_utf8_lossy(&stdout);
            let line = text.lines().rfind(|l| l.starts_with('{')).unwrap_or("{}");
            serde_json::from_str(line)
        })
        .unwrap();
    let totals = &rep["totals"];
    assert_eq!(totals["traps"], own["traps"], "{totals}");
    // Reads before the rescan found the library are not seen as direct reads (their traps
    // are, and the engine settles each as a trapped read); the rest are.
    let direct = totals["direct_reads"].as_u64().unwrap();
    let tries = own["tries"].as_u64().unwrap();
    assert!(
        direct >= tries / 2 && direct <= tries,
        "{direct} of {tries}: {totals}"
    );
    assert_eq!(totals["reads"]["trap"], own["traps"], "{totals}");

    // The report says the library's reads before it was probed are not seen.
    let text = Command::new(BIN)
        .arg("report")
        .arg(&trace)
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&text.stdout);
    assert!(
        text.lines().any(|l| l.contains("librdpmc.so were probed")
            && l.contains("direct reads there before that are not seen")),
        "{text}"
    );
}
