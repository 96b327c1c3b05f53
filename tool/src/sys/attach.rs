//! Which eBPF attach methods really work here: load and attach a canary program of each kind
//! (probe-ebpf `canary.rs`) and report what the kernel said. Plain data, reused by the probe
//! loader's fallbacks and the lab.

use std::{error::Error as StdError, fmt, io, path::PathBuf};

use aya::{
    Btf, Ebpf,
    programs::{
        BtfTracePoint, FEntry, FExit, KProbe, ProgramError, RawTracePoint, TracePoint, UProbe,
        uprobe::UProbeScope,
    },
};
use serde::{Deserialize, Serialize};

use super::Facts;

/// An eBPF attach method.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Method {
    TpBtf,
    Tracepoint,
    RawTp,
    Kprobe,
    Fentry,
    Fexit,
    Uprobe,
}

impl Method {
    pub const ALL: [Method; 7] = [
        Method::TpBtf,
        Method::Tracepoint,
        Method::RawTp,
        Method::Kprobe,
        Method::Fentry,
        Method::Fexit,
        Method::Uprobe,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Method::TpBtf => "tp_btf",
            Method::Tracepoint => "tracepoint",
            Method::RawTp => "raw_tp",
            Method::Kprobe => "kprobe",
            Method::Fentry => "fentry",
            Method::Fexit => "fexit",
            Method::Uprobe => "uprobe",
        }
    }

    /// The canary program's name in the eBPF object.
    fn program(self) -> &'static str {
        match self {
            Method::TpBtf => "canary_tp_btf",
            Method::Tracepoint => "canary_tracepoint",
            Method::RawTp => "canary_raw_tp",
            Method::Kprobe => "canary_kprobe",
            Method::Fentry => "canary_fentry",
            Method::Fexit => "canary_fexit",
            Method::Uprobe => "canary_uprobe",
        }
    }
}

impl fmt::Display for Method {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Outcome of one method's check.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    /// Loaded and attached.
    Works,
    /// The kernel (or a missing kernel feature) refused it; see `reason`.
    Refused,
    /// Not tried (no root, `--no-attach`); see `reason`.
    NotChecked,
}

/// What happened when a canary of one method was loaded and attached.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AttachCheck {
    pub method: Method,
    /// Where it was attached (`sched_switch`, a kernel function, `SYMBOL in PATH`).
    pub target: String,
    pub status: Status,
    /// `load` or `attach`: the step that failed.
    pub stage: Option<String>,
    /// errno the kernel returned, where there was one.
    pub errno: Option<i32>,
    /// Short cause a person can act on (`EPERM: ...`, `kprobes not built in`).
    pub reason: Option<String>,
    /// The full error chain.
    pub detail: Option<String>,
}

impl AttachCheck {
    pub fn works(&self) -> bool {
        self.status == Status::Works
    }

    /// Every method marked not checked, with the reason.
    pub fn not_checked(reason: &str) -> Vec<AttachCheck> {
        Method::ALL
            .iter()
            .map(|&method| AttachCheck {
                method,
                target: String::new(),
                status: Status::NotChecked,
                stage: None,
                errno: None,
                reason: Some(reason.to_string()),
                detail: None,
            })
            .collect()
    }
}

/// Kernel function the kprobe/fentry/fexit canaries hook: global on every architecture,
/// and on the perf path pmuwatch cares about.
pub const KERNEL_FN: &str = "perf_event_update_userpage";

/// Symbol in this binary the uprobe canary attaches to.
const UPROBE_SYMBOL: &str = "pmuwatch_uprobe_canary";

/// The uprobe canary's target. Never called for its effect; `black_box` keeps it linked.
#[unsafe(no_mangle)]
#[inline(never)]
pub extern "C" fn pmuwatch_uprobe_canary() -> u64 {
    std::hint::black_box(0)
}

/// Loads the eBPF object and tries every method. Needs root (or CAP_BPF + CAP_PERFMON);
/// fails only when the object cannot be loaded at all (the check could not run).
pub fn check_all(facts: &Facts, object: &[u8]) -> anyhow::Result<Vec<AttachCheck>> {
    raise_memlock();
    let mut ebpf = Ebpf::load(object).map_err(|e| {
        crate::error::fix(
            format!("cannot load the eBPF object: {}", chain(&e)),
            "run as root; on kernels before 5.11 raise `ulimit -l`",
        )
    })?;
    let btf = Btf::from_sys_fs().map_err(|e| chain(&e));
    Ok(Method::ALL
        .iter()
        .map(|&m| check_one(&mut ebpf, btf.as_ref(), facts, m))
        .collect())
}

fn check_one(
    ebpf: &mut Ebpf,
    btf: Result<&Btf, &String>,
    facts: &Facts,
    method: Method,
) -> AttachCheck {
    let exe = std::env::current_exe().unwrap_or_else(|_| PathBuf::from("/proc/self/exe"));
    let mut target = match method {
        Method::TpBtf | Method::RawTp => "sched_switch".to_string(),
        Method::Tracepoint => "sched/sched_switch".to_string(),
        Method::Kprobe | Method::Fentry | Method::Fexit => KERNEL_FN.to_string(),
        Method::Uprobe => format!("{UPROBE_SYMBOL} in {}", exe.display()),
    };
    let needs_btf = matches!(method, Method::TpBtf | Method::Fentry | Method::Fexit);
    let result = match (needs_btf, btf) {
        (true, Err(e)) => Err(Failure {
            stage: "load",
            errno: None,
            detail: format!("no kernel BTF: {e}"),
        }),
        (_, btf) => run(ebpf, btf.ok(), method, &exe, &mut target),
    };
    match result {
        Ok(()) => AttachCheck {
            method,
            target,
            status: Status::Works,
            stage: None,
            errno: None,
            reason: None,
            detail: None,
        },
        Err(f) => AttachCheck {
            method,
            target,
            status: Status::Refused,
            reason: Some(reason(method, facts, f.errno, &f.detail)),
            stage: Some(f.stage.to_string()),
            errno: f.errno,
            detail: Some(f.detail),
        },
    }
}

struct Failure {
    stage: &'static str,
    errno: Option<i32>,
    detail: String,
}

fn fail(stage: &'static str) -> impl Fn(ProgramError) -> Failure {
    move |e| Failure {
        stage,
        errno: errno(&e),
        detail: chain(&e),
    }
}

fn run(
    ebpf: &mut Ebpf,
    btf: Option<&Btf>,
    method: Method,
    exe: &std::path::Path,
    target: &mut String,
) -> Result<(), Failure> {
    let missing = || Failure {
        stage: "load",
        errno: None,
        detail: format!("program {} missing from the eBPF object", method.program()),
    };
    let prog = ebpf.program_mut(method.program()).ok_or_else(missing)?;
    let wrong = |_| missing();
    // The links stay attached until `ebpf` drops at the end of `check_all`, which detaches
    // and unloads everything.
    match method {
        Method::TpBtf => {
            let p: &mut BtfTracePoint = prog.try_into().map_err(wrong)?;
            let btf = btf.ok_or_else(missing)?;
            p.load("sched_switch", btf).map_err(fail("load"))?;
            p.attach().map_err(fail("attach"))?;
        }
        Method::Tracepoint => {
            let p: &mut TracePoint = prog.try_into().map_err(wrong)?;
            p.load().map_err(fail("load"))?;
            p.attach("sched", "sched_switch").map_err(fail("attach"))?;
        }
        Method::RawTp => {
            let p: &mut RawTracePoint = prog.try_into().map_err(wrong)?;
            p.load().map_err(fail("load"))?;
            p.attach("sched_switch").map_err(fail("attach"))?;
        }
        Method::Kprobe => {
            let p: &mut KProbe = prog.try_into().map_err(wrong)?;
            p.load().map_err(fail("load"))?;
            p.attach(KERNEL_FN, 0).map_err(fail("attach"))?;
        }
        Method::Fentry => {
            let p: &mut FEntry = prog.try_into().map_err(wrong)?;
            let btf = btf.ok_or_else(missing)?;
            p.load(KERNEL_FN, btf).map_err(fail("load"))?;
            p.attach().map_err(fail("attach"))?;
        }
        Method::Fexit => {
            let p: &mut FExit = prog.try_into().map_err(wrong)?;
            let btf = btf.ok_or_else(missing)?;
            p.load(KERNEL_FN, btf).map_err(fail("load"))?;
            p.attach().map_err(fail("attach"))?;
        }
        Method::Uprobe => {
            let p: &mut UProbe = prog.try_into().map_err(wrong)?;
            p.load().map_err(fail("load"))?;
            std::hint::black_box(pmuwatch_uprobe_canary());
            if let Err(own) = p.attach(UPROBE_SYMBOL, exe, UProbeScope::CallingProcess) {
                // A stripped binary has no symbol to resolve: try libc before blaming the
                // kernel. Only a refusal from the kernel (an errno) is reported as such.
                let first = fail("attach")(own);
                if first.errno.is_some() {
                    return Err(first);
                }
                p.attach("getpid", "libc", UProbeScope::CallingProcess)
                    .map_err(|e| Failure {
                        detail: format!("{}; libc getpid: {}", first.detail, chain(&e)),
                        ..fail("attach")(e)
                    })?;
                *target = "getpid in libc".to_string();
            }
        }
    }
    Ok(())
}

/// The first errno in the error's source chain.
fn errno(e: &(dyn StdError + 'static)) -> Option<i32> {
    let mut cur: Option<&(dyn StdError + 'static)> = Some(e);
    while let Some(err) = cur {
        if let Some(code) = err
            .downcast_ref::<io::Error>()
            .and_then(io::Error::raw_os_error)
        {
            return Some(code);
        }
        cur = err.source();
    }
    None
}

/// The error and its sources on one line.
fn chain(e: &(dyn StdError + 'static)) -> String {
    let mut parts = vec![e.to_string()];
    let mut cur = e.source();
    while let Some(err) = cur {
        let s = err.to_string();
        if !parts.iter().any(|p| p.contains(&s)) {
            parts.push(s);
        }
        cur = err.source();
    }
    parts.join(": ")
}

/// Short, actionable cause for a refusal: `SHORT: explanation` (the part before the first
/// colon is a label fit for a summary: `EPERM`, `not built in`).
pub fn reason(method: Method, facts: &Facts, errno: Option<i32>, detail: &str) -> String {
    const ENOTSUPP: i32 = 524;
    match errno {
        _ if method == Method::Kprobe && !facts.kprobes => {
            "not built in: no kprobe PMU, no kprobe_events (CONFIG_KPROBE_EVENTS off)".to_string()
        }
        _ if method == Method::Uprobe && !facts.uprobes => {
            "not built in: no uprobe PMU, no uprobe_events (CONFIG_UPROBE_EVENTS off)".to_string()
        }
        _ if matches!(method, Method::Tracepoint) && facts.tracefs.is_none() => {
            "no tracefs: mount -t tracefs tracefs /sys/kernel/tracing".to_string()
        }
        None if detail.starts_with("no kernel BTF") => {
            "no BTF: /sys/kernel/btf/vmlinux missing (needs CONFIG_DEBUG_INFO_BTF)".to_string()
        }
        Some(libc::EPERM) => {
            "EPERM: the kernel does not permit it here (lockdown, missing CAP_BPF/CAP_PERFMON, \
             or no BPF trampoline for this attach type)"
                .to_string()
        }
        Some(libc::EACCES) => "EACCES: the verifier or a security module refused it".to_string(),
        Some(ENOTSUPP) => {
            "ENOTSUPP (524): not supported by this kernel build (no BPF trampoline here)"
                .to_string()
        }
        Some(libc::EOPNOTSUPP) => "EOPNOTSUPP: not supported by this kernel".to_string(),
        Some(libc::ENOENT) => format!("ENOENT: attach point not found ({detail})"),
        Some(libc::EINVAL) => "EINVAL: the kernel rejected the program or attach point".to_string(),
        Some(libc::E2BIG) => "E2BIG: the kernel is too old for this program".to_string(),
        Some(code) => format!("errno {code}: {}", io::Error::from_raw_os_error(code)),
        None => detail.to_string(),
    }
}

/// Kernels before 5.11 charge BPF memory to RLIMIT_MEMLOCK.
fn raise_memlock() {
    let lim = libc::rlimit {
        rlim_cur: libc::RLIM_INFINITY,
        rlim_max: libc::RLIM_INFINITY,
    };
    // SAFETY: a valid pointer to an initialised rlimit; failure is harmless (checked later
    // by the loads themselves).
    unsafe {
        libc::setrlimit(libc::RLIMIT_MEMLOCK, &lim);
    }
}
