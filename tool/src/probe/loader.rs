//! Loads the kernel programs: BTF offsets and settings into their globals, every signal
//! attached with its fallbacks, every attempt recorded in [`Coverage`].

use std::path::Path;

use aya::{Ebpf, EbpfLoader, maps::Array};
use common::config::{KernelOffsets, Settings};

use super::{
    EBPF_OBJECT,
    attach::Kernel,
    coverage::{Coverage, Method},
    offsets::{self, Found},
    sysctl::Gates,
};
use crate::{btf::Btf, error::fix, sys};

/// Loaded and attached programs. Dropping it detaches everything.
pub struct Probes {
    pub ebpf: Ebpf,
    pub coverage: Coverage,
    pub offsets: Found,
    pub settings: Settings,
    /// Things done on the user's behalf ("mounted tracefs on ..."), to be shown.
    pub notes: Vec<String>,
}

#[derive(Clone, Debug, Default)]
pub struct LoadOptions {
    pub system_wide: bool,
    /// Attach methods not to try (exercises the fallbacks).
    pub skip_methods: Vec<Method>,
}

/// True on kernels whose PMU user access follows `nr_user` (arm64).
pub fn arm64_model() -> bool {
    cfg!(target_arch = "aarch64")
}

pub fn load(opts: LoadOptions) -> anyhow::Result<Probes> {
    crate::error::require_root("tracing")?;
    let notes = sys::ensure_mounts()?;
    let btf = Btf::from_sys_fs()?;
    let mut found = offsets::compute(&btf);
    offsets::add_tracepoint_offsets(&mut found.offsets, Path::new(sys::TRACEFS));
    let gates = Gates::read(&sys::Root::new("/"));
    let settings = Settings {
        system_wide: opts.system_wide as u32,
        own_tgid: std::process::id(),
        arm64_model: arm64_model() as u32,
        perf_user_access: gates.perf_user_access.max(0) as u32,
    };
    let mut ebpf = load_object(&found.offsets, &settings)?;
    set_gates(&mut ebpf, &gates)?;

    let aya_btf = aya::Btf::from_sys_fs().ok();
    let facts_kprobes = sys::Facts::live().kprobes;
    let k = Kernel {
        btf: aya_btf.as_ref(),
        kprobes: facts_kprobes,
        skip: &opts.skip_methods,
    };
    let mut coverage = Coverage::default();
    super::sched::attach(&mut ebpf, &k, &mut coverage)?;
    super::hooks::attach(&mut ebpf, &k, &mut coverage, std::env::consts::ARCH);
    // Other probe domains attach here (each records its own attempts in `coverage`):
    super::syscalls::attach_with(&mut ebpf, &k, &mut coverage, &found.offsets)?;
    super::traps::attach_with(&mut ebpf, &k, &mut coverage)?;
    Ok(Probes {
        ebpf,
        coverage,
        offsets: found,
        settings,
        notes,
    })
}

fn load_object(o: &KernelOffsets, s: &Settings) -> anyhow::Result<Ebpf> {
    EbpfLoader::new()
        .override_global("OFFSETS", o, true)
        .override_global("SETTINGS", s, true)
        .load(EBPF_OBJECT)
        .map_err(|e| {
            let text = super::attach::short("load", &e);
            if text.contains("Operation not permitted") {
                fix(
                    format!("the kernel refused the BPF maps ({text})"),
                    "run as root (CAP_BPF and CAP_PERFMON), outside a restricted container",
                )
            } else {
                fix(
                    format!("cannot load the BPF object ({text})"),
                    "run `pmuwatch doctor` to check BPF support on this kernel",
                )
            }
        })
}

/// Hands the polled gating settings to the access model in the kernel.
pub fn set_gates(ebpf: &mut Ebpf, g: &Gates) -> anyhow::Result<()> {
    let map = ebpf
        .map_mut("RUNTIME")
        .ok_or_else(|| anyhow::anyhow!("BPF object has no RUNTIME map"))?;
    let mut rt: Array<_, u32> = Array::try_from(map)?;
    rt.set(0, g.perf_user_access.max(0) as u32, 0)?;
    rt.set(1, g.rdpmc_mode as u32, 0)?;
    Ok(())
}

/// Whether targets stop at exec until [`super::live`] has probed their new image (the
/// `HOLD_EXEC` map of probe-ebpf/src/sched.rs).
pub fn set_hold_exec(ebpf: &mut Ebpf, on: bool) -> anyhow::Result<()> {
    let map = ebpf
        .map_mut("HOLD_EXEC")
        .ok_or_else(|| anyhow::anyhow!("BPF object has no HOLD_EXEC map"))?;
    let mut hold: Array<_, u32> = Array::try_from(map)?;
    hold.set(0, u32::from(on), 0)?;
    Ok(())
}

/// Run statistics of one loaded program (kernel BPF stats).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ProgramCost {
    pub name: String,
    pub runs: u64,
    pub run_time_ns: u64,
}

impl ProgramCost {
    /// Mean cost of one run in ns (0 before any run).
    pub fn ns_per_run(&self) -> u64 {
        self.run_time_ns.checked_div(self.runs).unwrap_or(0)
    }
}

impl Probes {
    /// Turns on the kernel's per-program run time accounting (as `kernel.bpf_stats_enabled=1`
    /// does) until the returned fd is dropped. It costs a little on every run: benchmarks only.
    pub fn enable_run_stats() -> anyhow::Result<std::os::fd::OwnedFd> {
        Ok(aya::sys::enable_stats(aya::sys::Stats::RunTime)?)
    }

    /// Run count and time of every loaded program (attached or not), by name.
    pub fn program_costs(&self) -> Vec<ProgramCost> {
        let mut v: Vec<ProgramCost> = self
            .ebpf
            .programs()
            .filter_map(|(name, p)| {
                let info = p.info().ok()?;
                Some(ProgramCost {
                    name: name.to_string(),
                    runs: info.run_count(),
                    run_time_ns: info.run_time().as_nanos() as u64,
                })
            })
            .collect();
        v.sort_by(|a, b| a.name.cmp(&b.name));
        v
    }
}
