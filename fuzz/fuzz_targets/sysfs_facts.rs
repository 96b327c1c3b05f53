//! What `doctor` reads from /proc and /sys: the input is cut at 0xff bytes into the contents
//! of the files below, written into a private tree, and read as machine facts.
#![no_main]

use std::{path::PathBuf, sync::OnceLock};

use libfuzzer_sys::fuzz_target;
use pmuwatch::sys::Facts;

const FILES: &[&str] = &[
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

fn root() -> &'static PathBuf {
    static ROOT: OnceLock<PathBuf> = OnceLock::new();
    ROOT.get_or_init(|| {
        let r = std::env::temp_dir().join(format!("pmuwatch-fuzz-sysfs-{}", std::process::id()));
        for f in FILES {
            let p = r.join(f);
            std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        }
        r
    })
}

fuzz_target!(|data: &[u8]| {
    let root = root();
    let mut parts = data.split(|b| *b == 0xff);
    for f in FILES {
        std::fs::write(root.join(f), parts.next().unwrap_or_default()).unwrap();
    }
    let facts = Facts::read(root);
    let _ = serde_json::to_string(&facts);
});
