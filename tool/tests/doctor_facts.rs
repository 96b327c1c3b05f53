//! System facts read from sysfs/procfs fixture trees (tests/fixtures/*).

use std::path::PathBuf;

use pmuwatch::sys::{CpusFrom, Facts, UserRead};

fn fixture(name: &str) -> Facts {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name);
    assert!(root.is_dir(), "missing fixture {}", root.display());
    Facts::read(&root)
}

fn kinds(f: &Facts) -> Vec<(u32, Option<&str>, Option<&str>)> {
    f.cpus
        .iter()
        .map(|c| (c.id, c.kind.as_deref(), c.pmu.as_deref()))
        .collect()
}

#[test]
fn this_vm_has_no_hardware_pmu() {
    let f = fixture("x86-vm");
    assert_eq!(f.arch, "x86_64");
    assert!(f.kernel.starts_with("6.18"), "{}", f.kernel);
    assert_eq!(f.cpus.len(), 2);
    assert!(f.cpus.iter().all(|c| c.online && c.pmu.is_none()));
    assert_eq!(f.cpus[0].kind.as_deref(), Some("AMD EPYC"));
    assert_eq!(f.core_pmus().count(), 0);
    let names: Vec<_> = f
        .pmus
        .iter()
        .map(|p| (p.name.as_str(), p.type_id))
        .collect();
    assert_eq!(
        names,
        [
            ("software", 1),
            ("tracepoint", 2),
            ("breakpoint", 5),
            ("uprobe", 8),
            ("msr", 9)
        ]
    );
    assert!(f.pmus.iter().all(|p| p.user_read.is_none()));
    assert_eq!(f.perf_user_access, None);
    assert_eq!(f.perf_event_paranoid, Some(2));
    assert!(f.btf);
    assert_eq!(f.tracefs.as_deref(), Some("/sys/kernel/tracing"));
    assert_eq!(f.bpffs.as_deref(), Some("/sys/fs/bpf"));
    assert!(!f.kprobes, "no kprobe PMU, no kprobe_events");
    assert!(f.uprobes);
}

#[test]
fn arm64_lab_has_two_pmu_types_split_by_cpu() {
    let f = fixture("arm64-hetero");
    assert_eq!(f.arch, "aarch64");
    assert_eq!(
        kinds(&f),
        [
            (0, Some("cortex-a53"), Some("armv8_cortex_a53")),
            (1, Some("cortex-a53"), Some("armv8_cortex_a53")),
            (2, Some("cortex-a72"), Some("armv8_cortex_a72")),
            (3, Some("cortex-a72"), Some("armv8_cortex_a72")),
        ]
    );
    assert_eq!(f.cpus[0].midr.as_deref(), Some("0x410fd034"));
    let core: Vec<_> = f
        .core_pmus()
        .map(|p| (p.name.as_str(), p.type_id, p.cpus.clone(), p.cpus_from))
        .collect();
    assert_eq!(
        core,
        [
            ("armv8_cortex_a53", 10, vec![0, 1], CpusFrom::Cpus),
            ("armv8_cortex_a72", 11, vec![2, 3], CpusFrom::Cpus),
        ]
    );
    let a53 = f.pmu("armv8_cortex_a53").expect("a53 PMU");
    assert_eq!(
        a53.user_read,
        Some(UserRead::FormatRdpmc {
            field: "config1:1".into()
        })
    );
    assert_eq!(
        a53.format.get("long").map(String::as_str),
        Some("config1:0")
    );
    assert_eq!(f.perf_user_access, Some(0));
    assert_eq!(f.perf_event_paranoid, Some(3));
    assert!(f.kprobes && f.uprobes && f.btf);
    assert_eq!(f.pmu_of_cpu(3).map(|p| p.type_id), Some(11));
}

#[test]
fn arm64_virt_reads_midr_from_cpuinfo_and_sees_offline_cpus() {
    let f = fixture("arm64-virt");
    assert_eq!(f.cpus.len(), 4);
    assert!(!f.cpus[3].online);
    // QEMU `-cpu max`: implementer 0 ("software use"), part 'Q'.
    assert_eq!(f.cpus[0].midr.as_deref(), Some("0xf0510"));
    assert_eq!(f.cpus[0].kind.as_deref(), Some("impl 0x00 part 0x051"));
    let pmu = f.pmu("armv8_pmuv3_0").expect("PMUv3");
    assert!(pmu.core);
    assert_eq!(pmu.cpus, [0, 1, 2, 3]);
    assert_eq!(f.perf_user_access, Some(1));
    assert_eq!(f.tracefs, None);
    assert_eq!(f.bpffs, None);
    assert!(f.kprobes, "kprobe PMU present");
}

#[test]
fn intel_hybrid_splits_core_and_atom() {
    let f = fixture("intel-hybrid");
    let k = kinds(&f);
    assert_eq!(k[0], (0, Some("core"), Some("cpu_core")));
    assert_eq!(k[3], (3, Some("core"), Some("cpu_core")));
    assert_eq!(k[4], (4, Some("atom"), Some("cpu_atom")));
    assert_eq!(k[11], (11, Some("atom"), Some("cpu_atom")));
    let core = f.pmu("cpu_core").expect("cpu_core");
    assert_eq!((core.type_id, core.cpus_from), (4, CpusFrom::Cpus));
    assert_eq!(core.user_read, Some(UserRead::RdpmcFile { value: 1 }));
    assert_eq!(f.pmu("cpu_atom").map(|p| p.type_id), Some(10));
    // Uncore: `cpumask` is where to open events, not a core PMU.
    let imc = f.pmu("uncore_imc_free_running_0").expect("imc");
    assert!(!imc.core);
    assert_eq!(
        (imc.cpus.as_slice(), imc.cpus_from),
        (&[0][..], CpusFrom::Cpumask)
    );
    assert_eq!(f.perf_user_access, None);
}

#[test]
fn facts_round_trip_through_json() {
    for name in ["x86-vm", "arm64-hetero", "arm64-virt", "intel-hybrid"] {
        let f = fixture(name);
        let json = serde_json::to_string(&f).expect("serialize");
        let back: Facts = serde_json::from_str(&json).expect("deserialize");
        assert_eq!(back, f, "{name}");
    }
}

#[test]
fn a_missing_root_gives_empty_facts_not_a_panic() {
    let f = Facts::read(std::path::Path::new("/nonexistent/pmuwatch-fixture"));
    assert!(f.cpus.is_empty() && f.pmus.is_empty() && !f.btf);
    assert_eq!(f.arch, "");
}
