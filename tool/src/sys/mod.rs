//! System facts: kernel, CPUs and their types, PMUs, perf sysctls, BTF, tracefs/bpffs.
//!
//! Everything is read under a root directory so fixture trees can stand in for `/`. The
//! `Facts` struct is the "doctor snapshot" stored in trace files: its field names are
//! stable (docs/doctor-json.md); add fields with `#[serde(default)]`, never rename.

pub mod attach;
mod cpu;
mod fs;
pub mod midr;
mod mounts;
mod pmu;

use std::path::Path;

use serde::{Deserialize, Serialize};

pub use self::{
    cpu::Cpu,
    fs::{Root, format_cpu_list, parse_cpu_list},
    mounts::{BPFFS, TRACEFS, ensure_mounts, ensure_mounts_each},
    pmu::{CpusFrom, Pmu, UserRead},
};

/// Version of the `Facts` layout; bumped only on an incompatible change.
pub const FACTS_SCHEMA: u32 = 1;

/// What this machine offers for direct counter reads and for tracing them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Facts {
    pub schema: u32,
    /// Kernel release (`uname -r`).
    pub kernel: String,
    /// `uname -m`: `x86_64`, `aarch64`.
    pub arch: String,
    /// Present CPUs, by id.
    pub cpus: Vec<Cpu>,
    /// Every PMU, by type id.
    pub pmus: Vec<Pmu>,
    /// `kernel.perf_user_access` (arm64 >= 5.17); `None` where the sysctl does not exist.
    pub perf_user_access: Option<u32>,
    /// `kernel.perf_event_paranoid`.
    pub perf_event_paranoid: Option<i32>,
    /// `/sys/kernel/btf/vmlinux` exists (tp_btf, fentry and offsets need it).
    pub btf: bool,
    /// Where tracefs is mounted, if anywhere.
    pub tracefs: Option<String>,
    /// Where bpffs is mounted, if anywhere.
    pub bpffs: Option<String>,
    /// The kernel has kprobe events (`kprobe` PMU or tracefs `kprobe_events`).
    pub kprobes: bool,
    /// The kernel has uprobe events (`uprobe` PMU or tracefs `uprobe_events`).
    pub uprobes: bool,
    /// Which eBPF attach methods work, one entry per method (`attach::check_all`); empty
    /// until checked (`Facts::read` only reads files).
    #[serde(default)]
    pub attach: Vec<attach::AttachCheck>,
}

impl Facts {
    /// Facts of the running system.
    pub fn live() -> Facts {
        Facts::read(Path::new("/"))
    }

    /// Facts read under `root` (`/` live, or a fixture tree). Missing files leave their
    /// fact empty; reading never fails.
    pub fn read(root: &Path) -> Facts {
        let root = Root::new(root);
        let arch = root
            .read("/proc/sys/kernel/arch")
            .filter(|a| !a.is_empty())
            .unwrap_or_else(|| {
                if root.is_live() {
                    std::env::consts::ARCH.to_string()
                } else {
                    String::new()
                }
            });
        let mut cpus = cpu::read(&root);
        let online: Vec<u32> = cpus.iter().filter(|c| c.online).map(|c| c.id).collect();
        let pmus = pmu::read(&root, &arch, &online);
        for c in &mut cpus {
            let covering = pmus.iter().find(|p| p.core && p.cpus.contains(&c.id));
            c.pmu = covering.map(|p| p.name.clone());
            // x86 hybrid: the core PMU with its own CPU list names the core type.
            if let Some(p) = covering.filter(|p| p.cpus_from == CpusFrom::Cpus && c.midr.is_none())
                && let Some(t) = p.name.strip_prefix("cpu_")
            {
                c.kind = Some(t.to_string());
            }
        }
        let mounts = mounts::read(&root);
        let tracefs = mounts::find(&mounts, "tracefs", TRACEFS);
        let in_tracefs = |f: &str| {
            tracefs
                .as_ref()
                .is_some_and(|t| root.exists(format!("{t}/{f}")))
        };
        let has_pmu = |n: &str| pmus.iter().any(|p| p.name == n);
        Facts {
            schema: FACTS_SCHEMA,
            kernel: root.read("/proc/sys/kernel/osrelease").unwrap_or_default(),
            cpus,
            perf_user_access: root
                .read("/proc/sys/kernel/perf_user_access")
                .and_then(|s| s.parse().ok()),
            perf_event_paranoid: root
                .read("/proc/sys/kernel/perf_event_paranoid")
                .and_then(|s| s.parse().ok()),
            btf: root.exists("/sys/kernel/btf/vmlinux"),
            kprobes: has_pmu("kprobe") || in_tracefs("kprobe_events"),
            uprobes: has_pmu("uprobe") || in_tracefs("uprobe_events"),
            bpffs: mounts::find(&mounts, "bpf", BPFFS),
            tracefs,
            pmus,
            arch,
            attach: Vec::new(),
        }
    }

    /// PMUs that count the CPUs' own hardware events.
    pub fn core_pmus(&self) -> impl Iterator<Item = &Pmu> {
        self.pmus.iter().filter(|p| p.core)
    }

    /// The core PMU counting on `cpu`.
    pub fn pmu_of_cpu(&self, cpu: u32) -> Option<&Pmu> {
        self.core_pmus().find(|p| p.cpus.contains(&cpu))
    }

    pub fn pmu(&self, name: &str) -> Option<&Pmu> {
        self.pmus.iter().find(|p| p.name == name)
    }
}
