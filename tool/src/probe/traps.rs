//! Attaches the trap program (`probe-ebpf/src/traps.rs`): `tp_btf/signal_generate` with the
//! faulting ip and instruction bytes, else the plain `signal/signal_generate` tracepoint (signal
//! and si_code only, ip unknown). Coverage says which one is in use.

use aya::{Btf, Ebpf};

use super::{
    attach::{Kernel, Try, first_of},
    coverage::{Coverage, Method, Status},
    tracepoint,
};

/// Coverage signal name.
pub const SIGNAL: &str = "traps";
const TP_BTF: Try<'static> = Try::TpBtf {
    prog: "trap_signal_generate",
    tp: "signal_generate",
};
const TRACEPOINT_PROG: &str = "trap_signal_generate_tp";
const HOOK: &str = "signal/signal_generate";

/// Fields of `signal/signal_generate` the fallback program reads, at these offsets.
const TRACEPOINT_LAYOUT: [(&str, u32); 4] = [("sig", 8), ("code", 16), ("pid", 36), ("result", 44)];

/// Attaches the best trap source this kernel allows; every attempt goes to `cov`. A kernel
/// that allows neither leaves traps without a source (shown in the coverage), not an error.
pub fn attach(ebpf: &mut Ebpf, cov: &mut Coverage) -> anyhow::Result<()> {
    let btf = Btf::from_sys_fs().ok();
    let k = Kernel {
        btf: btf.as_ref(),
        kprobes: false,
        skip: &[],
    };
    attach_with(ebpf, &k, cov)
}

/// As [`attach`], with the loader's view of the kernel (BTF, methods to skip).
pub fn attach_with(ebpf: &mut Ebpf, k: &Kernel<'_>, cov: &mut Coverage) -> anyhow::Result<()> {
    if first_of(ebpf, k, cov, SIGNAL, &[TP_BTF]).is_some() {
        return Ok(());
    }
    if k.skip.contains(&Method::Tracepoint) {
        cov.push(
            SIGNAL,
            HOOK,
            Method::Tracepoint,
            Status::Unavailable("skipped on request".into()),
        );
    } else {
        attach_fallback(ebpf, cov);
    }
    Ok(())
}

/// The fallback alone: plain tracepoint, no ip. Public so that it can be tested and forced.
pub fn attach_fallback(ebpf: &mut Ebpf, cov: &mut Coverage) {
    let status = match tracepoint::check("signal", "signal_generate", &TRACEPOINT_LAYOUT) {
        Err(r) => Status::Unavailable(r),
        Ok(()) => match tracepoint::attach(ebpf, TRACEPOINT_PROG, "signal", "signal_generate") {
            Ok(_) => Status::Active,
            Err(r) => Status::Refused(r),
        },
    };
    cov.push(SIGNAL, HOOK, Method::Tracepoint, status);
}
