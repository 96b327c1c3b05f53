//! One line per record, for the event log, evidence and reports.

use common::{Access, Event, ReadReg, insn};
use serde::{Deserialize, Serialize};

use super::state::comm_str;

/// A record as shown to a person.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct EventRow {
    pub ts_ns: u64,
    pub cpu: u32,
    pub pid: u32,
    pub tid: u32,
    /// Record kind name (`trap`, `sched_switch`, ...).
    pub kind: String,
    pub text: String,
}

impl EventRow {
    pub fn of(ev: &Event) -> EventRow {
        let h = ev.header();
        EventRow {
            ts_ns: h.ts_ns,
            cpu: h.cpu,
            pid: h.pid,
            tid: h.tid,
            kind: ev.kind().name().to_string(),
            text: describe(ev),
        }
    }
}

fn access(v: u8) -> &'static str {
    match Access::from_u8(v) {
        Access::On => "on",
        Access::Off => "off",
        Access::Unknown => "?",
    }
}

/// The register a read reads, for people.
pub fn reg_name(reg: ReadReg, counter: Option<u32>) -> String {
    match (reg, counter) {
        (ReadReg::X86Rdpmc, Some(c)) => format!("rdpmc ecx={c:#x}"),
        (ReadReg::X86Rdpmc, None) => "rdpmc".into(),
        (ReadReg::Pmccntr, _) => "PMCCNTR_EL0".into(),
        (ReadReg::Pmevcntr, Some(n)) => format!("PMEVCNTR{n}_EL0"),
        (ReadReg::Pmevcntr, None) => "PMEVCNTR<n>_EL0".into(),
        (ReadReg::Pmxevcntr, _) => "PMXEVCNTR_EL0".into(),
        (ReadReg::PmselrWrite, _) => "msr PMSELR_EL0".into(),
        (ReadReg::Unknown, Some(c)) => format!("counter {c}"),
        (ReadReg::Unknown, None) => "counter read".into(),
    }
}

fn errno_or(ret: i64) -> String {
    if ret < 0 {
        format!("-{}", -ret)
    } else {
        ret.to_string()
    }
}

/// A short description of a record, without its header.
pub fn describe(ev: &Event) -> String {
    match ev {
        Event::SchedSwitch(s) => format!(
            "switch {} -> {} ({}) access {} -> {}",
            s.prev_tid,
            s.h.tid,
            comm_str(&s.next_comm),
            access(s.prev_access),
            access(s.access)
        ),
        Event::Migrate(m) => format!("migrate CPU {} -> {}", m.orig_cpu, m.dest_cpu),
        Event::Trap(t) => {
            let n = (t.insn_len as usize).min(t.insn.len());
            let bytes = &t.insn[..n];
            let what = insn::decode_at(t.signo == 4, bytes)
                .map(|a| reg_name(a.reg, a.counter))
                .unwrap_or_else(|| {
                    if n == 0 {
                        "instruction unknown".into()
                    } else {
                        format!("insn {}", hex(bytes))
                    }
                });
            let sig = match t.signo {
                4 => "SIGILL".to_string(),
                11 => "SIGSEGV".to_string(),
                s => format!("signal {s}"),
            };
            format!("{sig} si_code {:#x} at ip {:#x}: {what}", t.si_code, t.ip)
        }
        Event::PerfOpen(o) => format!(
            "perf_event_open type {} config {:#x} config1 {:#x} pid {} cpu {} -> {}",
            o.attr_type,
            o.config,
            o.config1,
            o.target_pid,
            o.cpu_arg,
            errno_or(o.ret)
        ),
        Event::PerfIoctl(i) => format!(
            "ioctl fd {} {} arg {} -> {}",
            i.fd,
            ioctl_name(i.cmd),
            i.arg,
            errno_or(i.ret)
        ),
        Event::PerfMmap(m) => format!("mmap fd {} len {} -> {:#x}", m.fd, m.len, m.ret),
        Event::Munmap(m) => format!("munmap {:#x} len {} -> {}", m.addr, m.len, errno_or(m.ret)),
        Event::PerfRead(r) => format!("read(2) fd {} -> {}", r.fd, errno_or(r.ret)),
        Event::PerfClose(c) => format!("close fd {} -> {}", c.fd, errno_or(c.ret)),
        Event::Fork(f) => format!("fork -> pid {} tid {}", f.child_pid, f.child_tid),
        Event::Exec(e) => format!("exec {}", comm_str(&e.comm)),
        Event::Exit(x) => {
            if x.group_dead != 0 {
                "exit (last thread)".into()
            } else {
                "exit".into()
            }
        }
        Event::DirectRead(d) => {
            let c = (d.counter != u32::MAX).then_some(d.counter);
            format!(
                "direct read {} at ip {:#x}",
                reg_name(ReadReg::from_u32(d.reg), c),
                d.ip
            )
        }
        Event::ReaderCall(r) => format!("reader function {} returned {}", r.func, r.ret),
        Event::PageSample(p) => format!(
            "page fd {} index {} lock {} time_running {}",
            p.fd, p.index, p.lock, p.time_running
        ),
        Event::Lost(l) => format!("{} records lost", l.count),
        Event::Comm(c) => format!("comm {}", comm_str(&c.comm)),
        Event::Sysctl(s) => format!(
            "perf_user_access {} rdpmc {} paranoid {}",
            s.perf_user_access, s.rdpmc_mode, s.paranoid
        ),
        Event::HookToggle(k) => format!(
            "hook {} access {} value {}",
            k.hook,
            access(k.access.min(255) as u8),
            k.value
        ),
    }
}

fn hex(b: &[u8]) -> String {
    b.iter()
        .map(|x| format!("{x:02x}"))
        .collect::<Vec<_>>()
        .join(" ")
}

/// `PERF_EVENT_IOC_*` names.
pub fn ioctl_name(cmd: u32) -> String {
    match cmd {
        super::IOC_ENABLE => "ENABLE".into(),
        super::IOC_DISABLE => "DISABLE".into(),
        0x2402 => "REFRESH".into(),
        0x2403 => "RESET".into(),
        c => format!("{c:#x}"),
    }
}
