//! The parsers of outside bytes, each driven the way the tool drives it: shared by
//! tests/parsers.rs (random input in CI) and the cargo-fuzz targets in fuzz/ (long runs).
#![allow(dead_code)] // each user takes the parts it needs

use std::path::Path;

use pmuwatch::{
    btf::Btf,
    engine::script,
    probe,
    sites::{lines::Lines, procmaps, scan, symbols::Symbols},
    sys::Facts,
};

/// A target's executable file as read from disk: read-site scan, symbols, DWARF lines.
pub fn elf(data: &[u8]) {
    let found = scan::scan(data);
    let Ok(file) = object::File::parse(data) else {
        return;
    };
    let syms = Symbols::read(&file);
    let lines = Lines::load(Path::new("/nonexistent/pmuwatch-parsers"), &file);
    for f in found.unwrap_or_default() {
        let _ = scan::describe(&f.access);
        let _ = syms.lookup(f.vaddr);
        let _ = lines.as_ref().and_then(|l| l.lookup(f.vaddr));
    }
}

/// /proc/PID/maps, tracefs `format` files, /proc/kallsyms, engine scripts.
pub fn text(text: &str) {
    let _ = procmaps::executable_files(text);
    let _ = probe::offsets::format_field(text, "next_pid");
    let _ = probe::tracepoint::check_layout(text, &[("common_pid", 4), ("ret", 16)]);
    let _ = probe::hooks::kallsyms(text, &["armv8pmu_start", "x86_pmu_enable"]);
    let _ = script::parse(text);
}

/// The kernel's BTF and the offsets computed from it.
pub fn btf(data: &[u8]) {
    if let Ok(btf) = Btf::parse(data) {
        let _ = probe::offsets::compute(&btf);
        let _ = btf.tracepoint_params("sched_switch");
        let _ = btf.offset_of("task_struct", &["thread_info", "cpu"]);
    }
}

/// Ring-buffer records and the instruction bytes a trap record carries.
pub fn record(data: &[u8]) {
    if let Ok(e) = common::decode(data) {
        // A decoded record is the input's prefix of the record's own size.
        assert_eq!(e.bytes(), &data[..e.bytes().len()]);
        assert_eq!(common::decode(e.bytes()), Ok(e));
    }
    let _ = common::insn::decode_at(true, data);
    let _ = common::insn::decode_at(false, data);
}

/// What `doctor` reads from /proc and /sys (paths relative to the root).
pub const FILES: &[&str] = &[
    "proc/cpuinfo",
    "proc/self/mounts",
    "proc/sys/kernel/perf_user_access",
    "proc/sys/kernel/perf_event_paranoid",
    "proc/sys/kernel/osrelease",
    "proc/sys/kernel/arch",
    "sys/devices/system/cpu/possible",
    "sys/devices/system/cpu/online",
    "sys/devices/system/cpu/cpu0/regs/identification/midr_el1",
    "sys/devices/system/cpu/cpu1/regs/identification/midr_el1",
    "sys/bus/event_source/devices/armv8_pmuv3_0/type",
    "sys/bus/event_source/devices/armv8_pmuv3_0/cpus",
    "sys/bus/event_source/devices/armv8_pmuv3_0/format/rdpmc",
    "sys/bus/event_source/devices/cpu_core/type",
    "sys/bus/event_source/devices/cpu_core/cpus",
    "sys/bus/event_source/devices/cpu/rdpmc",
    "sys/kernel/btf/vmlinux",
];

/// Writes `contents[i]` to `FILES[i]` under `root` (missing ones empty) and reads the facts.
pub fn sysfs(root: &Path, contents: &[&[u8]]) {
    for (i, f) in FILES.iter().enumerate() {
        let p = root.join(f);
        std::fs::create_dir_all(p.parent().expect("FILES are nested")).expect("scratch dir");
        std::fs::write(p, contents.get(i).copied().unwrap_or_default()).expect("scratch file");
    }
    let facts = Facts::read(root);
    assert!(serde_json::to_string(&facts).is_ok());
}
