//! What the engine needs to know about the machine: plain serde data, no I/O.
//!
//! `sys::Facts` (read from sysfs by `doctor`) converts into this; trace files store it, so a
//! recording is judged with the facts of the machine it came from.

use serde::{Deserialize, Serialize};

/// CPU architecture of the traced machine.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum Arch {
    #[serde(rename = "x86_64")]
    X86_64,
    #[serde(rename = "aarch64")]
    Aarch64,
    /// Not known: traps are decoded by signal (SIGILL: arm64, SIGSEGV: x86).
    #[default]
    #[serde(rename = "unknown")]
    Unknown,
}

/// One PMU under `/sys/bus/event_source/devices`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Pmu {
    /// Directory name, e.g. `armv8_cortex_a53`, `cpu`, `cpu_core`, `software`.
    pub name: String,
    /// The `type` file: the value `perf_event_attr.type` takes to open an event on it.
    pub type_id: u32,
    /// The `cpus` (or `cpumask`) file, expanded; empty means every CPU.
    #[serde(default)]
    pub cpus: Vec<u32>,
    /// The PMU can serve direct user reads: a hardware counter PMU (arm64: `format/rdpmc`
    /// exists; x86: an `rdpmc` attribute exists), whatever the sysctls say right now.
    #[serde(default)]
    pub user_read: bool,
}

/// One CPU.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct CpuFacts {
    pub cpu: u32,
    /// Type id of the hardware PMU that counts on this CPU; None when there is none.
    #[serde(default)]
    pub pmu_type: Option<u32>,
    /// Model name (`cortex-a72`, `Intel(R) Core(TM) ...`), empty when not known.
    #[serde(default)]
    pub model: String,
}

/// Machine facts the engine judges reads with.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Facts {
    #[serde(default)]
    pub arch: Arch,
    #[serde(default)]
    pub pmus: Vec<Pmu>,
    #[serde(default)]
    pub cpus: Vec<CpuFacts>,
}

/// `PERF_TYPE_*` ids with a fixed meaning.
pub const PERF_TYPE_HARDWARE: u32 = 0;
pub const PERF_TYPE_SOFTWARE: u32 = 1;
pub const PERF_TYPE_TRACEPOINT: u32 = 2;
pub const PERF_TYPE_HW_CACHE: u32 = 3;
pub const PERF_TYPE_RAW: u32 = 4;
pub const PERF_TYPE_BREAKPOINT: u32 = 5;

impl Facts {
    pub fn pmu(&self, type_id: u32) -> Option<&Pmu> {
        self.pmus.iter().find(|p| p.type_id == type_id)
    }

    /// PMUs with hardware counters a user can read.
    pub fn hardware_pmus(&self) -> impl Iterator<Item = &Pmu> {
        self.pmus.iter().filter(|p| p.user_read)
    }

    pub fn has_hardware_pmu(&self) -> bool {
        self.hardware_pmus().next().is_some()
    }

    /// The hardware PMU counting on `cpu`: the CPU's own entry first, else the only hardware
    /// PMU whose `cpus` hold it (an empty list covers every CPU).
    pub fn cpu_pmu(&self, cpu: u32) -> Option<u32> {
        if let Some(c) = self.cpus.iter().find(|c| c.cpu == cpu)
            && c.pmu_type.is_some()
        {
            return c.pmu_type;
        }
        let mut covering = self
            .hardware_pmus()
            .filter(|p| p.cpus.is_empty() || p.cpus.contains(&cpu));
        let first = covering.next()?;
        covering.next().is_none().then_some(first.type_id)
    }

    pub fn cpu_model(&self, cpu: u32) -> Option<&str> {
        self.cpus
            .iter()
            .find(|c| c.cpu == cpu)
            .map(|c| c.model.as_str())
            .filter(|m| !m.is_empty())
    }

    /// The name of PMU `type_id`, or `type N` when unknown.
    pub fn pmu_name(&self, type_id: u32) -> String {
        match self.pmu(type_id) {
            Some(p) => p.name.clone(),
            None => format!("type {type_id}"),
        }
    }

    /// CPUs PMU `type_id` counts on, as a range list ("0-1"); None for all or unknown.
    pub fn pmu_cpu_list(&self, type_id: u32) -> Option<String> {
        let p = self.pmu(type_id)?;
        (!p.cpus.is_empty()).then(|| cpu_list(&p.cpus))
    }
}

/// `[0, 1, 2, 5]` -> `0-2,5`.
pub fn cpu_list(cpus: &[u32]) -> String {
    let mut v: Vec<u32> = cpus.to_vec();
    v.sort_unstable();
    v.dedup();
    let mut out = String::new();
    let mut i = 0;
    while i < v.len() {
        let start = v[i];
        let mut end = start;
        while i + 1 < v.len() && v[i + 1] == end.wrapping_add(1) {
            i += 1;
            end = v[i];
        }
        if !out.is_empty() {
            out.push(',');
        }
        if end == start {
            out.push_str(&start.to_string());
        } else {
            out.push_str(&format!("{start}-{end}"));
        }
        i += 1;
    }
    out
}

/// Facts of the machines the design was checked on, for tests, benches and examples.
pub mod examples {
    use super::*;

    fn sw_pmus() -> Vec<Pmu> {
        [("software", 1), ("tracepoint", 2), ("breakpoint", 5)]
            .into_iter()
            .map(|(n, t)| Pmu {
                name: n.into(),
                type_id: t,
                cpus: vec![],
                user_read: false,
            })
            .collect()
    }

    /// This project's x86_64 VM: two CPUs, no hardware PMU.
    pub fn x86_no_pmu() -> Facts {
        Facts {
            arch: Arch::X86_64,
            pmus: sw_pmus(),
            cpus: (0..2)
                .map(|cpu| CpuFacts {
                    cpu,
                    pmu_type: None,
                    model: "QEMU Virtual CPU".into(),
                })
                .collect(),
        }
    }

    /// QEMU `virt` with `virt.dtb`: one `armv8_pmuv3` PMU (type 8) on four CPUs.
    pub fn arm64_homogeneous() -> Facts {
        let mut pmus = sw_pmus();
        pmus.push(Pmu {
            name: "armv8_pmuv3".into(),
            type_id: 8,
            cpus: vec![0, 1, 2, 3],
            user_read: true,
        });
        Facts {
            arch: Arch::Aarch64,
            pmus,
            cpus: (0..4)
                .map(|cpu| CpuFacts {
                    cpu,
                    pmu_type: Some(8),
                    model: "cortex-a72".into(),
                })
                .collect(),
        }
    }

    /// `hetero_spi.dtb` on kernel 6.12: cortex-a53 PMU (type 10) on CPUs 0-1, cortex-a72 PMU
    /// (type 11) on CPUs 2-3.
    pub fn arm64_hetero() -> Facts {
        let mut pmus = sw_pmus();
        pmus.push(Pmu {
            name: "armv8_cortex_a53".into(),
            type_id: 10,
            cpus: vec![0, 1],
            user_read: true,
        });
        pmus.push(Pmu {
            name: "armv8_cortex_a72".into(),
            type_id: 11,
            cpus: vec![2, 3],
            user_read: true,
        });
        Facts {
            arch: Arch::Aarch64,
            pmus,
            cpus: (0..4)
                .map(|cpu| CpuFacts {
                    cpu,
                    pmu_type: Some(if cpu < 2 { 10 } else { 11 }),
                    model: if cpu < 2 { "cortex-a53" } else { "cortex-a72" }.into(),
                })
                .collect(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cpu_lists_compress_ranges() {
        assert_eq!(cpu_list(&[0, 1, 2, 5, 7, 8]), "0-2,5,7-8");
        assert_eq!(cpu_list(&[3]), "3");
        assert_eq!(cpu_list(&[]), "");
    }

    #[test]
    fn cpu_pmu_comes_from_the_cpu_or_the_only_covering_pmu() {
        let h = examples::arm64_hetero();
        assert_eq!(h.cpu_pmu(1), Some(10));
        assert_eq!(h.cpu_pmu(2), Some(11));
        assert_eq!(examples::x86_no_pmu().cpu_pmu(0), None);
        let mut f = examples::arm64_hetero();
        f.cpus.clear();
        assert_eq!(f.cpu_pmu(3), Some(11));
        assert_eq!(f.pmu_cpu_list(10).as_deref(), Some("0-1"));
    }

    #[test]
    fn facts_round_trip_through_json() {
        let f = examples::arm64_hetero();
        let s = serde_json::to_string(&f).unwrap();
        assert!(s.contains("\"aarch64\""));
        assert_eq!(serde_json::from_str::<Facts>(&s).unwrap(), f);
    }
}
