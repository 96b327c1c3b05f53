//! Events -> JSON lines: one object per event, every field of its record, for scripts.

use common::Event;
use serde_json::{Value, json};

use super::perfetto::cstr;

/// The JSON object of one event: `kind`, the header fields, then the record's own fields.
pub fn event_json(e: &Event) -> Value {
    let h = e.header();
    let mut v = json!({
        "kind": e.kind().name(),
        "ts_ns": h.ts_ns,
        "cpu": h.cpu,
        "pid": h.pid,
        "tid": h.tid,
    });
    let body = match e {
        Event::SchedSwitch(s) => json!({
            "prev_pid": s.prev_pid, "prev_tid": s.prev_tid, "prev_state": s.prev_state,
            "next_nr_user": s.next_nr_user, "next_rdpmc_allowed": s.next_rdpmc_allowed,
            "access": access(s.access), "prev_access": access(s.prev_access),
            "source": if s.source == common::AccessSource::Model as u8 { "model" } else { "none" },
            "involves_target": s.involves_target != 0, "next_comm": cstr(&s.next_comm),
        }),
        Event::Migrate(m) => json!({"orig_cpu": m.orig_cpu, "dest_cpu": m.dest_cpu}),
        Event::Trap(t) => {
            let n = (t.insn_len as usize).min(t.insn.len());
            let hex: String = t.insn[..n].iter().map(|b| format!("{b:02x}")).collect();
            json!({"signo": t.signo, "si_code": t.si_code, "ip": t.ip, "insn": hex,
                   "result": t.result})
        }
        Event::PerfOpen(o) => json!({
            "attr_type": o.attr_type, "attr_size": o.attr_size, "config": o.config,
            "config1": o.config1, "config2": o.config2, "attr_flags": o.attr_flags,
            "target_pid": o.target_pid, "cpu_arg": o.cpu_arg, "group_fd": o.group_fd,
            "flags": o.flags, "ret": o.ret,
        }),
        Event::PerfIoctl(i) => json!({"fd": i.fd, "cmd": i.cmd, "arg": i.arg, "ret": i.ret}),
        Event::PerfMmap(m) => json!({"fd": m.fd, "prot": m.prot, "len": m.len, "ret": m.ret}),
        Event::Munmap(m) => json!({"addr": m.addr, "len": m.len, "ret": m.ret}),
        Event::PerfRead(r) => json!({"fd": r.fd, "count": r.count, "ret": r.ret}),
        Event::PerfClose(c) => json!({"fd": c.fd, "ret": c.ret}),
        Event::Fork(f) => json!({"child_pid": f.child_pid, "child_tid": f.child_tid}),
        Event::Exec(x) => json!({"comm": cstr(&x.comm)}),
        Event::Exit(x) => json!({"group_dead": x.group_dead != 0}),
        Event::DirectRead(r) => json!({
            "ip": r.ip, "site": r.site,
            "reg": format!("{:?}", common::ReadReg::from_u32(r.reg)), "counter": r.counter,
        }),
        Event::ReaderCall(r) => json!({"func": r.func, "ret": r.ret}),
        Event::PageSample(p) => json!({
            "fd": p.fd, "index": p.index, "lock": p.lock, "cap_user_rdpmc": p.cap_user_rdpmc,
            "offset": p.offset, "time_enabled": p.time_enabled, "time_running": p.time_running,
            "pmc_width": p.pmc_width,
        }),
        Event::Lost(l) => json!({"count": l.count}),
        Event::Comm(c) => json!({"comm": cstr(&c.comm)}),
        Event::Sysctl(s) => json!({
            "perf_user_access": s.perf_user_access, "rdpmc_mode": s.rdpmc_mode,
            "paranoid": s.paranoid,
        }),
        Event::HookToggle(t) => json!({
            "hook": format!("{:?}", common::Hook::from_u32(t.hook)),
            "access": access(u8::try_from(t.access).unwrap_or(2)), "value": t.value,
        }),
    };
    if let (Value::Object(o), Value::Object(b)) = (&mut v, body) {
        o.extend(b);
    }
    v
}

fn access(a: u8) -> &'static str {
    match common::Access::from_u8(a) {
        common::Access::On => "on",
        common::Access::Off => "off",
        common::Access::Unknown => "unknown",
    }
}
