//! The machine facts a trace stores (`sys::Facts`, the doctor snapshot) -> the facts the
//! engine judges reads with, so a recording is judged as on the machine it came from.

use serde_json::Value;

use crate::{
    engine::{self, Arch, CpuFacts},
    sys::{self, CpusFrom},
};

/// Converts a doctor snapshot.
pub fn from_sys(f: &sys::Facts) -> engine::Facts {
    let arch = match f.arch.as_str() {
        "x86_64" => Arch::X86_64,
        "aarch64" | "arm64" => Arch::Aarch64,
        _ => Arch::Unknown,
    };
    let pmus = f
        .pmus
        .iter()
        .map(|p| engine::Pmu {
            name: p.name.clone(),
            type_id: p.type_id,
            // Only a `cpus` file says where a PMU counts; empty means every CPU.
            cpus: if p.cpus_from == CpusFrom::Cpus {
                p.cpus.clone()
            } else {
                Vec::new()
            },
            user_read: p.core && p.user_read.is_some(),
        })
        .collect();
    let cpus = f
        .cpus
        .iter()
        .map(|c| CpuFacts {
            cpu: c.id,
            pmu_type: c
                .pmu
                .as_deref()
                .and_then(|name| f.pmu(name))
                .filter(|p| p.core)
                .map(|p| p.type_id),
            model: c.kind.clone().unwrap_or_default(),
        })
        .collect();
    engine::Facts { arch, pmus, cpus }
}

/// The engine facts of a trace's meta: a doctor snapshot, or (older or foreign writers)
/// engine facts as they are; `None` when neither reads.
pub fn from_meta(facts: &Value) -> Option<engine::Facts> {
    if facts.is_null() {
        return None;
    }
    if let Ok(f) = serde_json::from_value::<sys::Facts>(facts.clone()) {
        return Some(from_sys(&f));
    }
    serde_json::from_value::<engine::Facts>(facts.clone()).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fixture(name: &str) -> sys::Facts {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures");
        sys::Facts::read(&root.join(name))
    }

    #[test]
    fn a_big_little_snapshot_gives_two_pmu_types_through_json() {
        let f = fixture("arm64-hetero");
        // Through JSON, as a trace stores it.
        let e = from_meta(&serde_json::to_value(&f).unwrap()).unwrap();
        assert_eq!(e, from_sys(&f));
        assert_eq!(e.arch, Arch::Aarch64);
        let mut types: Vec<u32> = e.cpus.iter().filter_map(|c| c.pmu_type).collect();
        types.sort_unstable();
        types.dedup();
        assert_eq!(types.len(), 2, "{e:?}");
        assert!(e.has_hardware_pmu());
    }

    #[test]
    fn this_vm_has_no_hardware_pmu_and_null_meta_is_none() {
        let e = from_sys(&fixture("x86-vm"));
        assert_eq!(e.arch, Arch::X86_64);
        assert!(!e.has_hardware_pmu());
        assert_eq!(from_meta(&Value::Null), None);
        assert_eq!(from_meta(&serde_json::json!("junk")), None);
    }
}
