//! Attaches the scheduler programs (`probe-ebpf/src/sched.rs`): tp_btf first, raw_tp (same
//! body, no program BTF needed) next, and for `sched_switch` the plain tracepoint last.

use aya::Ebpf;

use super::{
    attach::{Kernel, Try, first_of},
    coverage::Coverage,
};

/// (signal, tracepoint, program name stem). Programs are `<stem>_btf` and `<stem>_raw`.
const SIGNALS: [(&str, &str, &str); 5] = [
    ("sched_switch", "sched_switch", "sched_switch"),
    ("migrations", "sched_migrate_task", "sched_migrate"),
    ("fork", "sched_process_fork", "sched_fork"),
    ("exec", "sched_process_exec", "sched_exec"),
    ("exit", "sched_process_exit", "sched_exit"),
];

/// Attaches every scheduler signal it can. Fails only when context switches cannot be traced
/// at all (nothing would make sense without them).
pub fn attach(ebpf: &mut Ebpf, k: &Kernel<'_>, cov: &mut Coverage) -> anyhow::Result<()> {
    for (signal, tp, stem) in SIGNALS {
        let btf_prog = format!("{stem}_btf");
        let raw_prog = format!("{stem}_raw");
        let mut tries = vec![
            Try::TpBtf {
                prog: &btf_prog,
                tp,
            },
            Try::RawTp {
                prog: &raw_prog,
                tp,
            },
        ];
        if signal == "sched_switch" {
            tries.push(Try::Tracepoint {
                prog: "sched_switch_tp",
                category: "sched",
                name: "sched_switch",
            });
        }
        if first_of(ebpf, k, cov, signal, &tries).is_none() && signal == "sched_switch" {
            let why = cov
                .attachments
                .iter()
                .filter(|a| a.signal == signal)
                .map(|a| format!("{} {:?}", a.method, a.status))
                .collect::<Vec<_>>()
                .join("; ");
            return Err(crate::error::fix(
                format!("cannot trace context switches ({why})"),
                "run `pmuwatch doctor` to see which BPF program types this kernel allows",
            ));
        }
    }
    Ok(())
}
