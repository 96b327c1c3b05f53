//! Every parser of outside bytes, on random and damaged input: an error or a value, never a
//! panic. The same parsers have cargo-fuzz targets in fuzz/ for long runs; these cases keep
//! the property checked in CI.

use std::path::Path;

use pmuwatch::{
    btf::Btf,
    engine::script,
    probe,
    sites::{lines::Lines, procmaps, scan, symbols::Symbols},
    sys::Facts,
};
use proptest::prelude::*;

fn elf_parts(data: &[u8]) {
    let found = scan::scan(data);
    let Ok(file) = object::File::parse(data) else {
        return;
    };
    let syms = Symbols::read(&file);
    let lines = Lines::load(Path::new("/nonexistent/pmuwatch-test"), &file);
    for f in found.unwrap_or_default() {
        let _ = scan::describe(&f.access);
        let _ = syms.lookup(f.vaddr);
        let _ = lines.as_ref().and_then(|l| l.lookup(f.vaddr));
    }
}

fn text_parts(text: &str) {
    let _ = procmaps::executable_files(text);
    let _ = probe::offsets::format_field(text, "next_pid");
    let _ = probe::tracepoint::check_layout(text, &[("common_pid", 4), ("ret", 16)]);
    let _ = probe::hooks::kallsyms(text, &["armv8pmu_start", "x86_pmu_enable"]);
    let _ = script::parse(text);
}

/// A small real ELF file to damage.
fn small_elf() -> Vec<u8> {
    std::fs::read("/bin/true").expect("/bin/true")
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn ring_buffer_records_decode_or_fail(bytes in proptest::collection::vec(any::<u8>(), 0..128)) {
        if let Ok(e) = common::decode(&bytes) {
            prop_assert_eq!(e.bytes(), &bytes[..e.bytes().len()]);
        }
        let _ = common::insn::decode_at(true, &bytes);
        let _ = common::insn::decode_at(false, &bytes);
    }

    #[test]
    fn elf_files_with_random_bytes(bytes in proptest::collection::vec(any::<u8>(), 0..4096)) {
        elf_parts(&bytes);
    }

    #[test]
    fn text_inputs_never_panic(text in "(?s).{0,400}") {
        text_parts(&text);
    }

    #[test]
    fn text_inputs_with_plausible_lines(
        lines in proptest::collection::vec(
            "([0-9a-f]{1,12}-[0-9a-f]{1,12} r-xp [0-9a-f]{1,8} 00:00 [0-9]{1,5} +/[a-z/]{0,12}|\tfield:[a-z ]{0,12} [a-z_]{1,9};\toffset:[0-9]{1,3};\tsize:[0-9]{1,2};|[0-9a-f]{16} [tT] [a-z_]{1,14}( \\[[a-z]+\\])?|[0-9]{1,4}(ms|us|ns)? [0-9]{1,3} [0-9]{1,5} [0-9]{1,5} [a-z_]{2,12}( [a-z_]{1,8}=[0-9a-z]{0,6})*)",
            0..12,
        )
    ) {
        text_parts(&lines.join("\n"));
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]

    #[test]
    fn damaged_real_elf_file(flips in proptest::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..24)) {
        let mut data = small_elf();
        for (at, b) in flips {
            let i = at.index(data.len());
            data[i] = b;
        }
        elf_parts(&data);
    }

    #[test]
    fn kernel_btf_random_and_truncated(bytes in proptest::collection::vec(any::<u8>(), 0..2048), cut in any::<prop::sample::Index>()) {
        if let Ok(btf) = Btf::parse(&bytes) {
            let _ = probe::offsets::compute(&btf);
        }
        // A real BTF header with a random body.
        let mut real = vec![0x9f, 0xeb, 0x01, 0x00, 24, 0, 0, 0];
        real.extend_from_slice(&bytes);
        let real = &real[..cut.index(real.len() + 1)];
        if let Ok(btf) = Btf::parse(real) {
            let _ = probe::offsets::compute(&btf);
            let _ = btf.tracepoint_params("sched_switch");
        }
    }

    #[test]
    fn sysfs_and_procfs_contents(contents in proptest::collection::vec("(?s).{0,64}", FILES.len())) {
        let root = tempfile::tempdir().unwrap();
        for (f, c) in FILES.iter().zip(&contents) {
            let p = root.path().join(f);
            std::fs::create_dir_all(p.parent().unwrap()).unwrap();
            std::fs::write(p, c).unwrap();
        }
        let facts = Facts::read(root.path());
        prop_assert!(serde_json::to_string(&facts).is_ok());
    }
}

/// What `doctor` reads (the same list as fuzz/fuzz_targets/sysfs_facts.rs).
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
