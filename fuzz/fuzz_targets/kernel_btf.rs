//! The kernel's BTF (`/sys/kernel/btf/vmlinux`, or a trace's copy): any bytes give an error
//! or a type table whose lookups never panic.
#![no_main]

use libfuzzer_sys::fuzz_target;
use pmuwatch::{btf::Btf, probe::offsets};

fuzz_target!(|data: &[u8]| {
    let Ok(btf) = Btf::parse(data) else {
        return;
    };
    let _ = offsets::compute(&btf);
    let _ = btf.tracepoint_params("sched_switch");
    let _ = btf.offset_of("task_struct", &["thread_info", "cpu"]);
});
