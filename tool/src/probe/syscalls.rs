//! Attaches the perf syscall programs (`probe-ebpf/src/syscalls.rs`): `perf_event_open`, and
//! `ioctl`, `mmap`, `read`, `close` on the perf fds it returns, and `munmap`. Each is an
//! enter/exit tracepoint pair; both halves attach or neither does. `read`, the busy one, is
//! first tried as its exit alone (arguments from `pt_regs`): one program run per read(2).

use aya::Ebpf;
use common::config::{KernelOffsets, NO_OFFSET};

use super::{
    attach::Kernel,
    coverage::{Coverage, Method, Status},
    tracepoint,
};

/// Offset of `args[0]` in `sys_enter_*` records and of `ret` in `sys_exit_*` records, where the
/// programs read them.
const ARGS: u32 = 16;
const RET: u32 = 16;

/// (signal, syscall, the argument names the enter program reads, in order).
const CALLS: [(&str, &str, &[&str]); 6] = [
    (
        "perf_event_open",
        "perf_event_open",
        &["attr_uptr", "pid", "cpu", "group_fd", "flags"],
    ),
    ("perf_ioctl", "ioctl", &["fd", "cmd", "arg"]),
    ("perf_mmap", "mmap", &["addr", "len", "prot", "flags", "fd"]),
    ("munmap", "munmap", &["addr", "len"]),
    ("perf_read", "read", &["fd", "buf", "count"]),
    ("perf_close", "close", &["fd"]),
];

/// Attaches every pair; each outcome goes to `cov` under its signal name (the record kind
/// names: "perf_event_open", "perf_ioctl", "perf_mmap", "munmap", "perf_read", "perf_close").
/// A refused pair leaves the others working; only a program missing from the object (a build
/// mismatch) is an error. `o`: the offsets the object was loaded with.
pub fn attach(ebpf: &mut Ebpf, cov: &mut Coverage, o: &KernelOffsets) -> anyhow::Result<()> {
    attach_skipping(ebpf, cov, o, false)
}

/// As [`attach`], honouring the loader's methods to skip (tracepoints are the only method).
pub fn attach_with(
    ebpf: &mut Ebpf,
    k: &Kernel<'_>,
    cov: &mut Coverage,
    o: &KernelOffsets,
) -> anyhow::Result<()> {
    attach_skipping(ebpf, cov, o, k.skip.contains(&Method::Tracepoint))
}

fn attach_skipping(
    ebpf: &mut Ebpf,
    cov: &mut Coverage,
    o: &KernelOffsets,
    skip: bool,
) -> anyhow::Result<()> {
    for (signal, call, args) in CALLS {
        if call == "read" && !skip {
            let status = attach_read_exit(ebpf, o);
            let active = status == Status::Active;
            cov.push(signal, READ_EXIT_HOOK, Method::Tracepoint, status);
            if active {
                continue;
            }
        }
        let enter = format!("sys_enter_{call}");
        let exit = format!("sys_exit_{call}");
        let hook = format!("syscalls/{enter}");
        for prog in [&enter, &exit] {
            if ebpf.program(prog).is_none() {
                anyhow::bail!("eBPF program {prog} missing from the embedded object");
            }
        }
        let status = if skip {
            Status::Unavailable("skipped on request".into())
        } else {
            match attach_pair(ebpf, args, &enter, &exit) {
                Ok(()) => Status::Active,
                Err(Refusal::Layout(r)) => Status::Unavailable(r),
                Err(Refusal::Kernel(r)) => Status::Refused(r),
            }
        };
        cov.push(signal, &hook, Method::Tracepoint, status);
    }
    let status = if skip {
        Status::Unavailable("skipped on request".into())
    } else {
        attach_exec(ebpf)
    };
    cov.push(
        EXEC_SIGNAL,
        "syscalls/sys_exit_execve",
        Method::Tracepoint,
        status,
    );
    Ok(())
}

/// The hook of the exit-only `read` program, as the coverage shows it.
pub const READ_EXIT_HOOK: &str = "syscalls/sys_exit_read (fd from pt_regs)";

/// `sys_exit_read_regs` alone. Refused where the kernel lacks `bpf_task_pt_regs` (before 5.15)
/// or its verifier will not take the typed `pt_regs` loads; unavailable without the offsets.
fn attach_read_exit(ebpf: &mut Ebpf, o: &KernelOffsets) -> Status {
    const PROG: &str = "sys_exit_read_regs";
    if o.regs_arg0 == NO_OFFSET || o.regs_arg2 == NO_OFFSET {
        return Status::Unavailable("syscall argument registers not found in BTF".into());
    }
    if let Err(r) = tracepoint::check("syscalls", "sys_exit_read", &[("ret", RET)]) {
        return Status::Unavailable(r);
    }
    match tracepoint::attach(ebpf, PROG, "syscalls", "sys_exit_read") {
        Ok(_) => Status::Active,
        Err(r) => Status::Refused(format!("{PROG}: {r}")),
    }
}

/// Coverage signal of exec tracking: without it, a close-on-exec perf fd's number reused
/// after an exec in the same process is taken for a perf fd.
pub const EXEC_SIGNAL: &str = "perf_fd_exec";

fn attach_exec(ebpf: &mut Ebpf) -> Status {
    for name in ["sys_exit_execve", "sys_exit_execveat"] {
        if let Err(r) = tracepoint::check("syscalls", name, &[("ret", RET)]) {
            return Status::Unavailable(r);
        }
        if let Err(r) = tracepoint::attach(ebpf, name, "syscalls", name) {
            return Status::Refused(format!("{name}: {r}"));
        }
    }
    Status::Active
}

enum Refusal {
    /// The record layout is not the one the programs read.
    Layout(String),
    /// The kernel refused the load or attach.
    Kernel(String),
}

fn attach_pair(ebpf: &mut Ebpf, args: &[&str], enter: &str, exit: &str) -> Result<(), Refusal> {
    let expected: Vec<(&str, u32)> = args
        .iter()
        .zip(0u32..)
        .map(|(a, i)| (*a, ARGS + 8 * i))
        .collect();
    tracepoint::check("syscalls", enter, &expected).map_err(Refusal::Layout)?;
    tracepoint::check("syscalls", exit, &[("ret", RET)]).map_err(Refusal::Layout)?;
    let link = tracepoint::attach(ebpf, enter, "syscalls", enter)
        .map_err(|r| Refusal::Kernel(format!("{enter}: {r}")))?;
    if let Err(r) = tracepoint::attach(ebpf, exit, "syscalls", exit) {
        // An enter without its exit would only fill the pending-call map.
        tracepoint::detach(ebpf, enter, link);
        return Err(Refusal::Kernel(format!("{exit}: {r}")));
    }
    Ok(())
}
