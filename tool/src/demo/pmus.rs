//! Which events the demo opens, from the PMUs in sysfs (`/sys/bus/event_source/devices`).
//!
//! - aarch64: every PMU with `format/rdpmc` (user access, `config1:1` on 5.17+), cycles and
//!   instructions as raw armv8 events of that PMU type, with the rdpmc bit set. On a
//!   big.LITTLE machine that is one pair per CPU type.
//! - x86_64: the core PMU(s), `cpu` or hybrid `cpu_core`/`cpu_atom`, generic cycles and
//!   instructions (hybrid: the PMU type in `config` bits 32+).
//! - Neither found: generic `PERF_TYPE_HARDWARE` cycles and instructions (the kernel picks).
//! - Software events (task-clock, context-switches) when no hardware event opens: they have
//!   `index` 0 and no rdpmc capability, so the read protocol, the fallbacks and the careless
//!   traps still run.

use std::{fs, path::Path};

use super::{
    counts::EventInfo,
    perf::{
        PERF_COUNT_HW_CPU_CYCLES, PERF_COUNT_HW_INSTRUCTIONS, PERF_COUNT_SW_CONTEXT_SWITCHES,
        PERF_COUNT_SW_TASK_CLOCK, PERF_PMU_TYPE_SHIFT, PERF_TYPE_HARDWARE, PERF_TYPE_SOFTWARE,
    },
};

pub const SYSFS_PMUS: &str = "/sys/bus/event_source/devices";

/// armv8 common events (ARM DDI 0487, PMUv3): CPU_CYCLES goes to PMCCNTR_EL0.
const ARMV8_CPU_CYCLES: u64 = 0x11;
const ARMV8_INST_RETIRED: u64 = 0x08;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Arch {
    X86_64,
    Aarch64,
    Other,
}

impl Arch {
    pub const fn host() -> Arch {
        if cfg!(target_arch = "x86_64") {
            Arch::X86_64
        } else if cfg!(target_arch = "aarch64") {
            Arch::Aarch64
        } else {
            Arch::Other
        }
    }
}

/// Hardware events to try first, software events if none of them opens.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Plan {
    pub hardware: Vec<EventInfo>,
    pub software: Vec<EventInfo>,
}

/// Reads the PMUs under `root` (normally [`SYSFS_PMUS`]); unreadable entries are skipped.
pub fn plan(root: &Path, arch: Arch) -> Plan {
    let mut pmus: Vec<(String, u32)> = fs::read_dir(root)
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| {
            let name = e.file_name().into_string().ok()?;
            let ty = fs::read_to_string(e.path().join("type")).ok()?;
            Some((name, ty.trim().parse().ok()?))
        })
        .collect();
    pmus.sort();
    let mut hardware = Vec::new();
    for (name, ty) in &pmus {
        match arch {
            Arch::Aarch64 => {
                let Some(bit) = rdpmc_config1_bit(&root.join(name).join("format/rdpmc")) else {
                    continue;
                };
                for (event, config) in [
                    ("cycles", ARMV8_CPU_CYCLES),
                    ("instructions", ARMV8_INST_RETIRED),
                ] {
                    hardware.push(EventInfo {
                        name: format!("{name}/{event}"),
                        pmu: name.clone(),
                        type_: *ty,
                        config,
                        config1: 1 << bit,
                    });
                }
            }
            Arch::X86_64 if matches!(name.as_str(), "cpu" | "cpu_core" | "cpu_atom") => {
                // `cpu` is the default PMU of PERF_TYPE_HARDWARE; hybrid parts name theirs.
                let ext = if name == "cpu" {
                    0
                } else {
                    u64::from(*ty) << PERF_PMU_TYPE_SHIFT
                };
                hardware.extend(generic_hardware(name, ext));
            }
            _ => {}
        }
    }
    if hardware.is_empty() {
        hardware = generic_hardware("hardware", 0);
    }
    let software = [
        ("task-clock", PERF_COUNT_SW_TASK_CLOCK),
        ("context-switches", PERF_COUNT_SW_CONTEXT_SWITCHES),
    ]
    .into_iter()
    .map(|(event, config)| EventInfo {
        name: format!("software/{event}"),
        pmu: "software".into(),
        type_: PERF_TYPE_SOFTWARE,
        config,
        config1: 0,
    })
    .collect();
    Plan { hardware, software }
}

/// `--pmu-per-thread`: the plan of reader `thread`, holding the hardware events of one PMU
/// only, the `thread`-th of the plan's PMUs (in plan order, round robin).
pub fn one_pmu(plan: &Plan, thread: usize) -> Plan {
    let mut names: Vec<&str> = Vec::new();
    for e in &plan.hardware {
        if !names.contains(&e.pmu.as_str()) {
            names.push(&e.pmu);
        }
    }
    let mine = names.get(thread % names.len().max(1)).copied();
    Plan {
        hardware: plan
            .hardware
            .iter()
            .filter(|e| Some(e.pmu.as_str()) == mine)
            .cloned()
            .collect(),
        software: plan.software.clone(),
    }
}

fn generic_hardware(pmu: &str, ext: u64) -> Vec<EventInfo> {
    [
        ("cycles", PERF_COUNT_HW_CPU_CYCLES),
        ("instructions", PERF_COUNT_HW_INSTRUCTIONS),
    ]
    .into_iter()
    .map(|(event, config)| EventInfo {
        name: format!("{pmu}/{event}"),
        pmu: pmu.into(),
        type_: PERF_TYPE_HARDWARE,
        config: ext | config,
        config1: 0,
    })
    .collect()
}

/// `format/rdpmc` reads `config1:1`: the bit of config1 that asks for user access.
fn rdpmc_config1_bit(path: &Path) -> Option<u32> {
    let text = fs::read_to_string(path).ok()?;
    let bit: u32 = text.trim().strip_prefix("config1:")?.parse().ok()?;
    (bit < 64).then_some(bit)
}

#[cfg(test)]
mod tests {
    use std::path::PathBuf;

    use super::*;

    /// A sysfs-like tree in a fresh temp dir: (pmu, type, Some(rdpmc format)).
    fn tree(tag: &str, pmus: &[(&str, u32, Option<&str>)]) -> PathBuf {
        let root =
            std::env::temp_dir().join(format!("pmuwatch-demo-pmus-{tag}-{}", std::process::id()));
        let _ = fs::remove_dir_all(&root);
        for (name, ty, rdpmc) in pmus {
            let dir = root.join(name);
            fs::create_dir_all(dir.join("format")).expect("mkdir");
            fs::write(dir.join("type"), format!("{ty}\n")).expect("write");
            if let Some(f) = rdpmc {
                fs::write(dir.join("format/rdpmc"), format!("{f}\n")).expect("write");
            }
        }
        root
    }

    #[test]
    fn arm64_two_pmu_types_give_one_event_pair_each_with_the_rdpmc_bit() {
        let root = tree(
            "arm",
            &[
                ("armv8_cortex_a72", 11, Some("config1:1")),
                ("armv8_cortex_a53", 10, Some("config1:1")),
                ("software", 1, None),
                ("breakpoint", 5, None),
            ],
        );
        let p = plan(&root, Arch::Aarch64);
        let got: Vec<_> = p
            .hardware
            .iter()
            .map(|e| (e.name.as_str(), e.type_, e.config, e.config1))
            .collect();
        assert_eq!(
            got,
            [
                ("armv8_cortex_a53/cycles", 10, 0x11, 2),
                ("armv8_cortex_a53/instructions", 10, 0x08, 2),
                ("armv8_cortex_a72/cycles", 11, 0x11, 2),
                ("armv8_cortex_a72/instructions", 11, 0x08, 2),
            ]
        );
        // --pmu-per-thread: thread 0 the a53 pair, thread 1 the a72 pair, thread 2 a53 again.
        let names = |t: usize| -> Vec<String> {
            one_pmu(&p, t)
                .hardware
                .into_iter()
                .map(|e| e.name)
                .collect()
        };
        assert_eq!(
            names(1),
            ["armv8_cortex_a72/cycles", "armv8_cortex_a72/instructions"]
        );
        assert_eq!(names(2), names(0));
        assert_eq!(names(0)[0], "armv8_cortex_a53/cycles");
        assert_eq!(one_pmu(&p, 1).software, p.software);
        let _ = fs::remove_dir_all(root);
    }

    #[test]
    fn x86_hybrid_puts_the_pmu_type_in_config_and_plain_cpu_does_not() {
        let root = tree("hybrid", &[("cpu_core", 4, None), ("cpu_atom", 10, None)]);
        let p = plan(&root, Arch::X86_64);
        let got: Vec<_> = p.hardware.iter().map(|e| (e.type_, e.config)).collect();
        assert_eq!(
            got,
            [
                (0, 10 << 32),
                (0, (10 << 32) | 1),
                (0, 4 << 32),
                (0, (4 << 32) | 1)
            ]
        );
        let _ = fs::remove_dir_all(root);

        let root = tree("cpu", &[("cpu", 4, None), ("msr", 9, None)]);
        let p = plan(&root, Arch::X86_64);
        let got: Vec<_> = p
            .hardware
            .iter()
            .map(|e| (e.name.as_str(), e.config))
            .collect();
        assert_eq!(got, [("cpu/cycles", 0), ("cpu/instructions", 1)]);
        let _ = fs::remove_dir_all(root);
    }

    #[test]
    fn no_core_pmu_falls_back_to_generic_hardware_then_software() {
        let root = tree("none", &[("software", 1, None), ("msr", 9, None)]);
        for arch in [Arch::X86_64, Arch::Aarch64] {
            let p = plan(&root, arch);
            assert_eq!(p.hardware.len(), 2);
            assert!(p.hardware.iter().all(|e| e.type_ == PERF_TYPE_HARDWARE));
            let sw: Vec<_> = p.software.iter().map(|e| (e.type_, e.config)).collect();
            assert_eq!(sw, [(1, 1), (1, 3)]);
        }
        let _ = fs::remove_dir_all(root);
        // A missing sysfs is not an error either.
        let p = plan(Path::new("/nonexistent/pmus"), Arch::X86_64);
        assert_eq!(p.hardware.len(), 2);
    }
}
