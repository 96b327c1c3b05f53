//! `sys::Facts` -> `engine::Facts`: the part of the system facts the engine judges reads with
//! (the CPU -> PMU mapping, which PMUs serve direct reads, the architecture).

use super::{CpusFrom, Facts};
use crate::engine;

impl From<&Facts> for engine::Facts {
    fn from(f: &Facts) -> Self {
        let arch = match f.arch.as_str() {
            "x86_64" => engine::Arch::X86_64,
            "aarch64" => engine::Arch::Aarch64,
            _ => engine::Arch::Unknown,
        };
        let pmus = f
            .pmus
            .iter()
            .map(|p| engine::Pmu {
                name: p.name.clone(),
                type_id: p.type_id,
                // The engine reads an empty list as "every CPU".
                cpus: if p.cpus_from == CpusFrom::All {
                    Vec::new()
                } else {
                    p.cpus.clone()
                },
                // A core PMU serves direct reads if the kernel offers them at all (arm64
                // `format/rdpmc`; x86 always has rdpmc, its `rdpmc` file is a setting).
                user_read: p.core && (p.user_read.is_some() || arch == engine::Arch::X86_64),
            })
            .collect();
        let cpus = f
            .cpus
            .iter()
            .map(|c| engine::CpuFacts {
                cpu: c.id,
                pmu_type: c.pmu.as_deref().and_then(|n| f.pmu(n)).map(|p| p.type_id),
                model: c.kind.clone().unwrap_or_default(),
            })
            .collect();
        engine::Facts { arch, pmus, cpus }
    }
}

#[cfg(test)]
mod tests {
    use std::path::PathBuf;

    use super::*;

    fn fixture(name: &str) -> engine::Facts {
        let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
            .join("tests/fixtures")
            .join(name);
        engine::Facts::from(&Facts::read(&root))
    }

    #[test]
    fn lab_split_maps_cpus_to_pmu_types() {
        let e = fixture("arm64-hetero");
        assert_eq!(e.arch, engine::Arch::Aarch64);
        assert_eq!((e.cpu_pmu(1), e.cpu_pmu(2)), (Some(10), Some(11)));
        assert_eq!(e.cpu_model(3), Some("cortex-a72"));
        assert_eq!(e.hardware_pmus().count(), 2);
        assert_eq!(e.pmu_cpu_list(10).as_deref(), Some("0-1"));
    }

    #[test]
    fn this_vm_has_no_hardware_pmu_for_the_engine() {
        let e = fixture("x86-vm");
        assert_eq!(e.arch, engine::Arch::X86_64);
        assert!(!e.has_hardware_pmu());
        assert_eq!(e.cpu_pmu(0), None);
    }

    #[test]
    fn intel_hybrid_maps_atom_cpus_to_the_atom_pmu() {
        let e = fixture("intel-hybrid");
        assert_eq!((e.cpu_pmu(0), e.cpu_pmu(4)), (Some(4), Some(10)));
        assert_eq!(e.pmu_name(10), "cpu_atom");
        assert!(!e.pmu(11).is_some_and(|p| p.user_read), "uncore");
    }
}
