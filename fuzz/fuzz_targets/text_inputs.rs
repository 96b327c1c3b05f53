//! Text the tool reads from the system or the user: /proc/PID/maps, tracefs `format` files,
//! /proc/kallsyms, and engine scripts. None of them may panic on any text.
#![no_main]

use libfuzzer_sys::fuzz_target;
use pmuwatch::{engine::script, probe, sites::procmaps};

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let _ = procmaps::executable_files(&text);
    let _ = probe::offsets::format_field(&text, "next_pid");
    let _ = probe::tracepoint::check_layout(&text, &[("common_pid", 4), ("ret", 16)]);
    let _ = probe::hooks::kallsyms(&text, &["armv8pmu_start", "x86_pmu_enable"]);
    let _ = script::parse(&text);
});
