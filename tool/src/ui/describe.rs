//! One readable line per event, for the timeline, the evidence overlay and text mode.
//! Written into a reused `String`: only visible lines are ever formatted.

use std::fmt::Write;

use common::{Access, Event, Hook, ReadReg};

use super::filter::comm_str;

fn access(v: u8) -> &'static str {
    match Access::from_u8(v) {
        Access::On => "on",
        Access::Off => "off",
        Access::Unknown => "?",
    }
}

fn reg_name(r: ReadReg) -> &'static str {
    match r {
        ReadReg::X86Rdpmc => "rdpmc",
        ReadReg::Pmccntr => "mrs PMCCNTR_EL0",
        ReadReg::Pmevcntr => "mrs PMEVCNTR<n>_EL0",
        ReadReg::Pmxevcntr => "mrs PMXEVCNTR_EL0",
        ReadReg::PmselrWrite => "msr PMSELR_EL0",
        ReadReg::Unknown => "read",
    }
}

/// `PERF_EVENT_IOC_*` names (`_IO('$', n)`).
fn ioctl_name(cmd: u32) -> Option<&'static str> {
    Some(match cmd {
        0x2400 => "ENABLE",
        0x2401 => "DISABLE",
        0x2402 => "REFRESH",
        0x2403 => "RESET",
        _ => return None,
    })
}

fn errno_or(ret: i64) -> String {
    if ret < 0 {
        format!("error {}", -ret)
    } else {
        format!("{ret}")
    }
}

/// Seconds since `t0_ns`, with microseconds.
pub fn secs(ts_ns: u64, t0_ns: u64) -> String {
    let d = ts_ns.saturating_sub(t0_ns);
    format!("{}.{:06}", d / 1_000_000_000, (d % 1_000_000_000) / 1000)
}

/// Writes the event's details (no time, cpu or task: the caller prints those in columns).
pub fn details(e: &Event, out: &mut String) {
    // Writing to a String cannot fail.
    let _ = match e {
        Event::SchedSwitch(s) => write!(
            out,
            "{} -> {} ({}) access {}->{}",
            s.prev_tid,
            s.h.tid,
            comm_str(&s.next_comm),
            access(s.prev_access),
            access(s.access),
        ),
        Event::Migrate(m) => write!(out, "cpu {} -> {}", m.orig_cpu, m.dest_cpu),
        Event::Trap(t) => {
            let sig = match t.signo as i32 {
                libc::SIGILL => "SIGILL",
                libc::SIGSEGV => "SIGSEGV",
                _ => "signal",
            };
            let n = (t.insn_len as usize).min(t.insn.len());
            let decoded = common::insn::decode_at(t.signo as i32 == libc::SIGILL, &t.insn[..n])
                .map(|c| match c.counter {
                    Some(n) => format!(" ({} counter {n})", reg_name(c.reg)),
                    None => format!(" ({})", reg_name(c.reg)),
                })
                .unwrap_or_default();
            write!(
                out,
                "{sig} code {} at {:#x}{decoded}{}",
                t.si_code,
                t.ip,
                if t.result == 0 {
                    " (not delivered)"
                } else {
                    ""
                }
            )
        }
        Event::PerfOpen(p) => write!(
            out,
            "type {} config {:#x} config1 {:#x} pid {} cpu {} -> fd {}",
            p.attr_type,
            p.config,
            p.config1,
            p.target_pid,
            p.cpu_arg,
            errno_or(p.ret)
        ),
        Event::PerfIoctl(i) => match ioctl_name(i.cmd) {
            Some(n) => write!(out, "fd {} {n} -> {}", i.fd, errno_or(i.ret)),
            None => write!(out, "fd {} cmd {:#x} -> {}", i.fd, i.cmd, errno_or(i.ret)),
        },
        Event::PerfMmap(m) => write!(out, "fd {} len {} -> {:#x}", m.fd, m.len, m.ret),
        Event::Munmap(m) => write!(out, "{:#x} len {} -> {}", m.addr, m.len, errno_or(m.ret)),
        Event::PerfRead(r) => write!(
            out,
            "fd {} {} bytes -> {} (slow path)",
            r.fd,
            r.count,
            errno_or(r.ret)
        ),
        Event::PerfClose(c) => write!(out, "fd {} -> {}", c.fd, errno_or(c.ret)),
        Event::Fork(f) => write!(out, "child {}/{}", f.child_pid, f.child_tid),
        Event::Exec(x) => write!(out, "{}", comm_str(&x.comm)),
        Event::Exit(x) => write!(
            out,
            "{}",
            if x.group_dead != 0 {
                "process gone"
            } else {
                "thread"
            }
        ),
        Event::DirectRead(d) => {
            let reg = reg_name(ReadReg::from_u32(d.reg));
            if d.counter == u32::MAX {
                write!(out, "{reg} at {:#x}", d.ip)
            } else {
                write!(out, "{reg} counter {} at {:#x}", d.counter, d.ip)
            }
        }
        Event::ReaderCall(r) => write!(out, "reader {} returned {}", r.func, r.ret),
        Event::PageSample(p) => write!(
            out,
            "fd {} index {} lock {} cap_user_rdpmc {}",
            p.fd, p.index, p.lock, p.cap_user_rdpmc
        ),
        Event::Lost(l) => write!(out, "{} records dropped (ring buffer full)", l.count),
        Event::Comm(c) => write!(out, "{}", comm_str(&c.comm)),
        Event::Sysctl(s) => write!(
            out,
            "perf_user_access {} rdpmc {} paranoid {}",
            s.perf_user_access, s.rdpmc_mode, s.paranoid
        ),
        Event::HookToggle(h) => write!(
            out,
            "{:?} access {} ({})",
            Hook::from_u32(h.hook),
            access(h.access.min(2) as u8),
            h.value
        ),
    };
}

fn prefix(out: &mut String, ts_ns: u64, t0_ns: u64, cpu: u32, pid: u32, tid: u32, kind: &str) {
    let ids = if pid == tid {
        format!("{tid}")
    } else {
        format!("{pid}/{tid}")
    };
    let _ = write!(
        out,
        "{:>10} cpu{:<3}{:>12} {:<12} ",
        secs(ts_ns, t0_ns),
        cpu,
        ids,
        kind
    );
}

/// A whole line: `  1.234567 cpu1  4711/4712 sched_switch <details>` (the pid only where
/// it differs from the tid).
pub fn line(e: &Event, t0_ns: u64, out: &mut String) {
    let h = e.header();
    prefix(out, h.ts_ns, t0_ns, h.cpu, h.pid, h.tid, e.kind().name());
    details(e, out);
}

/// The same line for an event already described elsewhere (the engine's evidence).
pub fn row_line(
    ts_ns: u64,
    t0_ns: u64,
    cpu: u32,
    pid: u32,
    tid: u32,
    kind: &str,
    text: &str,
) -> String {
    let mut out = String::new();
    prefix(&mut out, ts_ns, t0_ns, cpu, pid, tid, kind);
    out.push_str(text);
    out
}

#[cfg(test)]
mod tests {
    use common::{PerfIoctl, SchedSwitch, Trap, decode::event, header_for};

    use super::*;

    #[test]
    fn lines_say_what_happened() {
        let mut s = SchedSwitch {
            h: header_for::<SchedSwitch>(1, 2_500_000_000, 7, 8),
            prev_pid: 5,
            prev_tid: 6,
            access: 1,
            prev_access: 0,
            ..Default::default()
        };
        s.next_comm[..4].copy_from_slice(b"demo");
        let mut out = String::new();
        line(&event(s), 1_000_000_000, &mut out);
        assert_eq!(
            out,
            "  1.500000 cpu1           7/8 sched_switch 6 -> 8 (demo) access off->on"
        );
        out.clear();
        details(
            &event(PerfIoctl {
                fd: 3,
                cmd: 0x2401,
                ..Default::default()
            }),
            &mut out,
        );
        assert_eq!(out, "fd 3 DISABLE -> 0");
        out.clear();
        let mut t = Trap {
            signo: libc::SIGSEGV as u32,
            si_code: 128,
            ip: 0x1000,
            result: 1,
            insn_len: 2,
            ..Default::default()
        };
        t.insn[..2].copy_from_slice(&[0x0f, 0x33]);
        details(&event(t), &mut out);
        assert!(out.starts_with("SIGSEGV code 128 at 0x1000"), "{out}");
    }
}
