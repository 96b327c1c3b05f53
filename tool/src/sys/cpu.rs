//! CPUs and their core type: arm64 MIDR (sysfs `midr_el1`, else `/proc/cpuinfo`), x86
//! `model name`. Hybrid x86 types (`core`/`atom`) come from the PMUs' `cpus` files, see
//! `Facts::read`.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::{
    fs::{Root, parse_cpu_list},
    midr,
};

/// One CPU the kernel knows (present), online or not.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Cpu {
    pub id: u32,
    pub online: bool,
    /// Core type: arm64 part name (`cortex-a53`), x86 hybrid `core`/`atom`, else the model
    /// name. `None` when nothing says.
    pub kind: Option<String>,
    /// arm64 MIDR_EL1 as read (hex string, `0x410fd034`).
    pub midr: Option<String>,
    /// The core PMU that counts on this CPU (its events are only scheduled here).
    pub pmu: Option<String>,
}

/// What `/proc/cpuinfo` says per processor: arm64 MIDR fields or x86 model name.
#[derive(Debug, Default)]
struct CpuInfo {
    midr: Option<u64>,
    model: Option<String>,
}

fn parse_hex(s: &str) -> Option<u64> {
    let s = s.trim();
    u64::from_str_radix(s.strip_prefix("0x").unwrap_or(s), 16).ok()
}

fn parse_cpuinfo(text: &str) -> BTreeMap<u32, CpuInfo> {
    let mut out = BTreeMap::new();
    for block in text.split("\n\n") {
        let mut id = None;
        let mut fields = BTreeMap::new();
        for line in block.lines() {
            if let Some((k, v)) = line.split_once(':') {
                let (k, v) = (k.trim(), v.trim());
                if k == "processor" {
                    id = v.parse::<u32>().ok();
                }
                fields.insert(k, v);
            }
        }
        let Some(id) = id else { continue };
        let hex = |k: &str| fields.get(k).and_then(|v| parse_hex(v));
        let midr = match (hex("CPU implementer"), hex("CPU part")) {
            (Some(imp), Some(part)) => Some(midr::from_fields(
                imp,
                hex("CPU variant").unwrap_or(0),
                // "CPU architecture: 8" stands for the 0xf "see ID registers" value.
                0xf,
                part,
                fields
                    .get("CPU revision")
                    .and_then(|v| v.parse().ok())
                    .unwrap_or(0),
            )),
            _ => None,
        };
        let model = fields.get("model name").map(|s| s.to_string());
        out.insert(id, CpuInfo { midr, model });
    }
    out
}

/// Present CPUs (from `present`, else the `cpuN` directories), with online state and type.
pub fn read(root: &Root) -> Vec<Cpu> {
    let base = "/sys/devices/system/cpu";
    let present = root
        .read(format!("{base}/present"))
        .and_then(|s| parse_cpu_list(&s))
        .unwrap_or_else(|| cpu_dirs(root, base));
    let online = root
        .read(format!("{base}/online"))
        .and_then(|s| parse_cpu_list(&s));
    let info = root
        .read("/proc/cpuinfo")
        .map(|t| parse_cpuinfo(&t))
        .unwrap_or_default();
    present
        .into_iter()
        .map(|id| {
            let sysfs_midr = root
                .read(format!("{base}/cpu{id}/regs/identification/midr_el1"))
                .and_then(|s| parse_hex(&s));
            let ci = info.get(&id);
            let midr = sysfs_midr.or_else(|| ci.and_then(|c| c.midr));
            let kind = match midr {
                Some(m) => Some(midr::part_name(m)),
                None => ci.and_then(|c| c.model.clone()),
            };
            Cpu {
                id,
                online: online.as_ref().is_none_or(|o| o.contains(&id)),
                kind,
                midr: midr.map(|m| format!("{m:#x}")),
                pmu: None,
            }
        })
        .collect()
}

fn cpu_dirs(root: &Root, base: &str) -> Vec<u32> {
    let mut ids: Vec<u32> = std::fs::read_dir(root.path(base))
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| e.file_name().to_str()?.strip_prefix("cpu")?.parse().ok())
        .collect();
    ids.sort_unstable();
    ids
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cpuinfo_arm64_fields_make_a_midr() {
        let text = "processor\t: 0\nBogoMIPS\t: 125.00\nCPU implementer\t: 0x41\n\
                    CPU architecture: 8\nCPU variant\t: 0x0\nCPU part\t: 0xd08\nCPU revision\t: 3\n\n\
                    processor\t: 1\nCPU implementer\t: 0x41\nCPU variant\t: 0x0\nCPU part\t: 0xd03\n\
                    CPU revision\t: 4\n";
        let info = parse_cpuinfo(text);
        assert_eq!(info[&0].midr, Some(0x410f_d083));
        assert_eq!(info[&1].midr, Some(0x410f_d034));
    }

    #[test]
    fn cpuinfo_x86_model_name() {
        let info = parse_cpuinfo("processor\t: 0\nmodel name\t: AMD EPYC\n\nprocessor\t: 1\n");
        assert_eq!(info[&0].model.as_deref(), Some("AMD EPYC"));
        assert_eq!(info[&1].model, None);
    }
}
