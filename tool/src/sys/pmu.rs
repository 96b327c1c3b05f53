//! PMUs under `/sys/bus/event_source/devices`: type id, CPUs, user-read capability.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::fs::{Root, parse_cpu_list};

pub const DEVICES: &str = "/sys/bus/event_source/devices";

/// One PMU (event source) the kernel registered.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Pmu {
    pub name: String,
    /// `perf_event_attr.type` to open its events with.
    #[serde(rename = "type")]
    pub type_id: u32,
    /// CPUs, see `cpus_from` for what they mean.
    pub cpus: Vec<u32>,
    pub cpus_from: CpusFrom,
    /// Counts the CPU's own hardware events (x86 `cpu`/`cpu_core`/`cpu_atom`, arm64 PMUv3):
    /// the PMUs a task's direct counter reads go to.
    pub core: bool,
    /// How user space may read its counters directly; `None`: no direct reads.
    pub user_read: Option<UserRead>,
    /// `format/*` files of core PMUs (`rdpmc` -> `config1:1`); empty for others.
    pub format: BTreeMap<String, String>,
}

/// Where `Pmu::cpus` came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CpusFrom {
    /// The `cpus` file: the CPUs this PMU counts on (arm64 PMUv3, x86 hybrid).
    Cpus,
    /// The `cpumask` file: the CPUs to open its events on (uncore PMUs), not a coverage.
    Cpumask,
    /// A core PMU with neither file counts on every online CPU (x86 `cpu`).
    All,
    /// Not tied to CPUs (software, tracepoint, uprobe ...).
    None,
}

/// How a PMU offers direct user-space counter reads.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "via", rename_all = "snake_case")]
pub enum UserRead {
    /// arm64 (Linux >= 5.17): `format/rdpmc` exists; request user access with this attr
    /// field (`config1:1`); also needs sysctl `kernel.perf_user_access=1`.
    FormatRdpmc { field: String },
    /// x86: the PMU's `rdpmc` file. 0: off, 1: while the task has one of its events
    /// mmapped (default), 2: any task at any time.
    RdpmcFile { value: u8 },
}

impl UserRead {
    /// False only where the PMU itself switched user reads off (x86 `rdpmc` = 0).
    pub fn enabled(&self) -> bool {
        !matches!(self, UserRead::RdpmcFile { value: 0 })
    }
}

fn is_core(name: &str, arch: &str, has_cpus_file: bool, has_rdpmc_format: bool) -> bool {
    match arch {
        "x86_64" | "i386" | "i686" | "x86" => {
            matches!(name, "cpu" | "cpu_core" | "cpu_atom" | "cpu_lowpower")
        }
        // arm_pmu is the driver that exports a `cpus` file there (SPE, DSU, uncore use
        // `cpumask`/`associated_cpus`).
        _ => has_rdpmc_format || has_cpus_file,
    }
}

/// Every PMU, sorted by type id. `online` stands in for the CPUs of a core PMU with no list.
pub fn read(root: &Root, arch: &str, online: &[u32]) -> Vec<Pmu> {
    let Ok(entries) = std::fs::read_dir(root.path(DEVICES)) else {
        return Vec::new();
    };
    let mut pmus: Vec<Pmu> = entries
        .flatten()
        .filter_map(|e| read_one(root, arch, online, e.file_name().to_str()?))
        .collect();
    pmus.sort_by(|a, b| (a.type_id, &a.name).cmp(&(b.type_id, &b.name)));
    pmus
}

fn read_one(root: &Root, arch: &str, online: &[u32], name: &str) -> Option<Pmu> {
    let dir = format!("{DEVICES}/{name}");
    let type_id = root.read(format!("{dir}/type"))?.parse().ok()?;
    let cpus_file = root
        .read(format!("{dir}/cpus"))
        .and_then(|s| parse_cpu_list(&s));
    let rdpmc_format = root.read(format!("{dir}/format/rdpmc"));
    let core = is_core(name, arch, cpus_file.is_some(), rdpmc_format.is_some());
    let (cpus, cpus_from) = if let Some(c) = cpus_file {
        (c, CpusFrom::Cpus)
    } else if let Some(c) = root
        .read(format!("{dir}/cpumask"))
        .and_then(|s| parse_cpu_list(&s))
    {
        (c, CpusFrom::Cpumask)
    } else if core {
        (online.to_vec(), CpusFrom::All)
    } else {
        (Vec::new(), CpusFrom::None)
    };
    let user_read = match (rdpmc_format, root.read(format!("{dir}/rdpmc"))) {
        (Some(field), _) => Some(UserRead::FormatRdpmc { field }),
        (None, Some(v)) => v.parse().ok().map(|value| UserRead::RdpmcFile { value }),
        (None, None) => None,
    };
    let format = if core {
        read_format(root, &format!("{dir}/format"))
    } else {
        BTreeMap::new()
    };
    Some(Pmu {
        name: name.to_string(),
        type_id,
        cpus,
        cpus_from,
        core,
        user_read,
        format,
    })
}

fn read_format(root: &Root, dir: &str) -> BTreeMap<String, String> {
    std::fs::read_dir(root.path(dir))
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| {
            let name = e.file_name().to_str()?.to_string();
            let value = root.read(format!("{dir}/{name}"))?;
            Some((name, value))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn core_pmus_by_arch() {
        assert!(is_core("cpu", "x86_64", false, false));
        assert!(is_core("cpu_atom", "x86_64", true, false));
        assert!(!is_core("uncore_imc_0", "x86_64", false, false));
        assert!(is_core("armv8_cortex_a53", "aarch64", true, true));
        assert!(!is_core("arm_spe_0", "aarch64", false, false));
    }

    #[test]
    fn rdpmc_zero_means_disabled() {
        assert!(!UserRead::RdpmcFile { value: 0 }.enabled());
        assert!(UserRead::RdpmcFile { value: 1 }.enabled());
        assert!(
            UserRead::FormatRdpmc {
                field: "config1:1".into()
            }
            .enabled()
        );
    }
}
