//! Events -> Perfetto's native protobuf trace (TrackEvent), one packet at a time.
//!
//! Tracks: per CPU, the running task (slices) and the user-access state (slices while on);
//! per thread, instants for direct reads, traps, fallback `read(2)`s, migrations and perf
//! syscalls, with flows from a read to the trap it caused and from a migration to the task's
//! next slice on the destination CPU; counters for access toggles/s and dropped events/s.
//! Field numbers are from perfetto/protos/perfetto/trace/{trace,trace_packet}.proto and
//! track_event/{track_event,track_descriptor,debug_annotation,...}.proto.

use std::{
    collections::{HashMap, HashSet},
    io::{self, Write},
};

use common::{Access, Event, PerfIoctl};

use super::proto::Msg;

// Trace
const TRACE_PACKET: u32 = 1;
// TracePacket
const PKT_TIMESTAMP: u32 = 8;
const PKT_SEQUENCE_ID: u32 = 10;
const PKT_TRACK_EVENT: u32 = 11;
const PKT_SEQUENCE_FLAGS: u32 = 13;
const PKT_TRACK_DESCRIPTOR: u32 = 60;
const PKT_FIRST_ON_SEQUENCE: u32 = 87;
const SEQ_INCREMENTAL_STATE_CLEARED: u64 = 1;
// TrackDescriptor
const TD_UUID: u32 = 1;
const TD_NAME: u32 = 2;
const TD_PROCESS: u32 = 3;
const TD_THREAD: u32 = 4;
const TD_PARENT_UUID: u32 = 5;
const TD_COUNTER: u32 = 8;
// ProcessDescriptor / ThreadDescriptor
const PD_PID: u32 = 1;
const PD_NAME: u32 = 6;
const THD_PID: u32 = 1;
const THD_TID: u32 = 2;
const THD_NAME: u32 = 5;
// CounterDescriptor
const CD_UNIT_NAME: u32 = 6;
// TrackEvent
const TE_DEBUG_ANNOTATIONS: u32 = 4;
const TE_TYPE: u32 = 9;
const TE_TRACK_UUID: u32 = 11;
const TE_CATEGORIES: u32 = 22;
const TE_NAME: u32 = 23;
const TE_COUNTER_VALUE: u32 = 30;
const TE_FLOW_IDS: u32 = 47;
const TE_TERMINATING_FLOW_IDS: u32 = 48;
const TYPE_SLICE_BEGIN: u64 = 1;
const TYPE_SLICE_END: u64 = 2;
const TYPE_INSTANT: u64 = 3;
const TYPE_COUNTER: u64 = 4;
// DebugAnnotation
const DA_UINT: u32 = 3;
const DA_INT: u32 = 4;
const DA_STRING: u32 = 6;
const DA_POINTER: u32 = 7;
const DA_NAME: u32 = 10;

const SEQUENCE: u64 = 1;
const CATEGORY: &str = "pmuwatch";

/// Track ids: a kind in the top byte, the pid/tid/cpu below.
fn uuid(kind: u64, id: u32) -> u64 {
    (kind << 56) | u64::from(id)
}
const K_PROCESS: u64 = 1;
const K_THREAD: u64 = 2;
const K_CPU: u64 = 3;
const K_CPU_ACCESS: u64 = 4;
const K_COUNTER: u64 = 5;
const K_SYSTEM: u64 = 6;
const TOGGLES_TRACK: u64 = (K_COUNTER << 56) | 1;
const LOST_TRACK: u64 = (K_COUNTER << 56) | 2;
const SYSTEM_TRACK: u64 = K_SYSTEM << 56;

const BUCKET_NS: u64 = 1_000_000_000;

/// A debug annotation value.
enum Val<'a> {
    U(u64),
    I(i64),
    S(&'a str),
    Ptr(u64),
}

/// Counts per second, emitted as a counter track.
#[derive(Default)]
struct Rate {
    bucket_start: Option<u64>,
    count: u64,
}

/// What the export wrote, for the command's summary line and tests.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Stats {
    pub packets: u64,
    pub tracks: u64,
    pub slices: u64,
    pub instants: u64,
    pub flows: u64,
    pub counters: u64,
}

pub struct Perfetto<W: Write> {
    out: W,
    pkt: Msg,
    arm64: bool,
    first: bool,
    declared: HashSet<u64>,
    /// Names of tasks by tid, and which name their track was declared with.
    names: HashMap<u32, String>,
    declared_name: HashMap<u32, String>,
    /// Open slice on each CPU track (the running task) and access track.
    cpu_slice: HashMap<u32, bool>,
    access: HashMap<u32, Access>,
    /// A direct read held back until the thread's next event: a trap right after it gets a
    /// flow from the read.
    pending_read: HashMap<u32, Event>,
    /// Flow from a migration to the task's next slice.
    pending_migration: HashMap<u32, u64>,
    next_flow: u64,
    toggles: Rate,
    lost: Rate,
    stats: Stats,
}

impl<W: Write> Perfetto<W> {
    /// `arm64`: decode trap instructions as arm64 (else x86).
    pub fn new(out: W, arm64: bool) -> Perfetto<W> {
        Perfetto {
            out,
            pkt: Msg::new(),
            arm64,
            first: true,
            declared: HashSet::new(),
            names: HashMap::new(),
            declared_name: HashMap::new(),
            cpu_slice: HashMap::new(),
            access: HashMap::new(),
            pending_read: HashMap::new(),
            pending_migration: HashMap::new(),
            next_flow: 1,
            toggles: Rate::default(),
            lost: Rate::default(),
            stats: Stats::default(),
        }
    }

    pub fn event(&mut self, e: &Event) -> io::Result<()> {
        let h = *e.header();
        let ts = h.ts_ns;
        // A held-back read is emitted before anything else of its thread.
        if h.tid != 0 && !matches!(e, Event::Trap(_)) {
            self.flush_read(h.tid, None)?;
        }
        self.rate_tick(ts)?;
        match e {
            Event::SchedSwitch(s) => {
                let name = cstr(&s.next_comm);
                if h.tid != 0 && !name.is_empty() {
                    self.names.insert(h.tid, name);
                }
                let cpu_track = uuid(K_CPU, h.cpu);
                self.declare_cpu(h.cpu)?;
                if self.cpu_slice.get(&h.cpu).copied().unwrap_or(false) {
                    self.track_event(ts, cpu_track, TYPE_SLICE_END, None, &[], &[], &[])?;
                }
                let running = h.tid != 0;
                if running {
                    let label = format!("{} {}", self.name_of(h.tid), h.tid);
                    let flow: Vec<u64> =
                        self.pending_migration.remove(&h.tid).into_iter().collect();
                    let args = [
                        ("pid", Val::U(u64::from(h.pid))),
                        ("tid", Val::U(u64::from(h.tid))),
                        ("prev_tid", Val::U(u64::from(s.prev_tid))),
                        ("nr_user", Val::U(u64::from(s.next_nr_user))),
                    ];
                    self.track_event(
                        ts,
                        cpu_track,
                        TYPE_SLICE_BEGIN,
                        Some(&label),
                        &args,
                        &[],
                        &flow,
                    )?;
                    self.stats.slices += 1;
                }
                self.cpu_slice.insert(h.cpu, running);
                let before = Access::from_u8(s.prev_access);
                let after = Access::from_u8(s.access);
                if before != after && before != Access::Unknown && after != Access::Unknown {
                    self.toggles.count += 1;
                }
                self.set_access(ts, h.cpu, after)?;
            }
            Event::HookToggle(t) => {
                let after = Access::from_u8(u8::try_from(t.access).unwrap_or(2));
                let name = format!("hook {:?}", common::Hook::from_u32(t.hook));
                self.declare_cpu(h.cpu)?;
                let args = [("value", Val::I(t.value))];
                self.instant(ts, uuid(K_CPU_ACCESS, h.cpu), &name, &args)?;
                self.set_access(ts, h.cpu, after)?;
            }
            Event::Migrate(m) => {
                let flow = self.flow();
                self.pending_migration.insert(h.tid, flow);
                let name = format!("migrate CPU {} -> {}", m.orig_cpu, m.dest_cpu);
                let args = [
                    ("orig_cpu", Val::U(u64::from(m.orig_cpu))),
                    ("dest_cpu", Val::U(u64::from(m.dest_cpu))),
                ];
                let track = self.thread_track(h.pid, h.tid)?;
                self.track_event(ts, track, TYPE_INSTANT, Some(&name), &args, &[flow], &[])?;
                self.stats.instants += 1;
            }
            Event::DirectRead(_) => {
                self.pending_read.insert(h.tid, *e);
            }
            Event::Trap(t) => {
                let flow = if self.pending_read.contains_key(&h.tid) {
                    Some(self.flow())
                } else {
                    None
                };
                self.flush_read(h.tid, flow)?;
                let insn_len = (t.insn_len as usize).min(t.insn.len());
                let insn = &t.insn[..insn_len];
                let decoded = common::insn::decode_at(self.arm64, insn)
                    .map(|a| format!("{:?}", a.reg))
                    .unwrap_or_else(|| "not a counter read".into());
                let sig = match t.signo {
                    4 => "SIGILL".to_string(),
                    11 => "SIGSEGV".to_string(),
                    n => format!("signal {n}"),
                };
                let hex: String = insn.iter().map(|b| format!("{b:02x}")).collect();
                let name = format!("trap {sig}");
                let args = [
                    ("ip", Val::Ptr(t.ip)),
                    ("si_code", Val::I(i64::from(t.si_code))),
                    ("insn", Val::S(&hex)),
                    ("decoded", Val::S(&decoded)),
                    ("cpu", Val::U(u64::from(h.cpu))),
                ];
                let track = self.thread_track(h.pid, h.tid)?;
                let term: Vec<u64> = flow.into_iter().collect();
                self.track_event(ts, track, TYPE_INSTANT, Some(&name), &args, &[], &term)?;
                self.stats.instants += 1;
            }
            Event::PerfRead(r) => {
                let args = [
                    ("fd", Val::I(i64::from(r.fd))),
                    ("ret", Val::I(r.ret)),
                    ("cpu", Val::U(u64::from(h.cpu))),
                ];
                self.thread_instant(&h, "fallback read(2)", &args)?;
            }
            Event::PerfOpen(o) => {
                let args = [
                    ("type", Val::U(u64::from(o.attr_type))),
                    ("config", Val::U(o.config)),
                    ("config1", Val::U(o.config1)),
                    ("pid", Val::I(i64::from(o.target_pid))),
                    ("cpu", Val::I(i64::from(o.cpu_arg))),
                    ("ret", Val::I(o.ret)),
                ];
                self.thread_instant(&h, "perf_event_open", &args)?;
            }
            Event::PerfIoctl(i) => {
                let name = format!("ioctl {}", ioctl_name(i));
                let args = [("fd", Val::I(i64::from(i.fd))), ("ret", Val::I(i.ret))];
                self.thread_instant(&h, &name, &args)?;
            }
            Event::PerfMmap(m) => {
                let args = [
                    ("fd", Val::I(i64::from(m.fd))),
                    ("ret", Val::Ptr(m.ret as u64)),
                ];
                self.thread_instant(&h, "mmap perf page", &args)?;
            }
            Event::Munmap(m) => {
                let args = [("addr", Val::Ptr(m.addr)), ("len", Val::U(m.len))];
                self.thread_instant(&h, "munmap", &args)?;
            }
            Event::PerfClose(c) => {
                let args = [("fd", Val::I(i64::from(c.fd)))];
                self.thread_instant(&h, "close perf fd", &args)?;
            }
            Event::Fork(f) => {
                let args = [("child_tid", Val::U(u64::from(f.child_tid)))];
                self.thread_instant(&h, "fork", &args)?;
            }
            Event::Exec(x) => {
                self.names.insert(h.tid, cstr(&x.comm));
                self.thread_instant(&h, "exec", &[])?;
            }
            Event::Exit(x) => {
                let args = [("group_dead", Val::U(u64::from(x.group_dead)))];
                self.thread_instant(&h, "exit", &args)?;
            }
            Event::ReaderCall(r) => {
                let args = [("func", Val::U(u64::from(r.func))), ("ret", Val::I(r.ret))];
                self.thread_instant(&h, "reader returned", &args)?;
            }
            Event::PageSample(p) => {
                let args = [
                    ("index", Val::U(u64::from(p.index))),
                    ("lock", Val::U(u64::from(p.lock))),
                    ("cap_user_rdpmc", Val::U(u64::from(p.cap_user_rdpmc))),
                    ("time_running", Val::U(p.time_running)),
                ];
                self.thread_instant(&h, "perf page sample", &args)?;
            }
            Event::Comm(c) => {
                self.names.insert(h.tid, cstr(&c.comm));
                if self.declared.contains(&uuid(K_THREAD, h.tid)) {
                    self.thread_track(h.pid, h.tid)?;
                }
            }
            Event::Lost(l) => {
                self.lost.count = self.lost.count.saturating_add(l.count);
                self.declare_cpu(h.cpu)?;
                let name = format!("ring buffer dropped {} events", l.count);
                self.instant(ts, uuid(K_CPU, h.cpu), &name, &[])?;
            }
            Event::Sysctl(s) => {
                self.declare(SYSTEM_TRACK, |m| {
                    m.string(TD_NAME, "sysctls");
                })?;
                let args = [
                    ("perf_user_access", Val::I(i64::from(s.perf_user_access))),
                    ("rdpmc", Val::I(i64::from(s.rdpmc_mode))),
                    ("perf_event_paranoid", Val::I(i64::from(s.paranoid))),
                ];
                self.instant(ts, SYSTEM_TRACK, "sysctl", &args)?;
            }
        }
        Ok(())
    }

    /// Flushes held-back reads and the last counter values; returns the output.
    pub fn finish(mut self) -> io::Result<(W, Stats)> {
        let mut tids: Vec<u32> = self.pending_read.keys().copied().collect();
        tids.sort_unstable();
        for tid in tids {
            self.flush_read(tid, None)?;
        }
        self.rate_flush(u64::MAX)?;
        self.out.flush()?;
        Ok((self.out, self.stats))
    }

    fn flow(&mut self) -> u64 {
        let f = self.next_flow;
        self.next_flow += 1;
        self.stats.flows += 1;
        f
    }

    fn name_of(&self, tid: u32) -> String {
        self.names
            .get(&tid)
            .cloned()
            .unwrap_or_else(|| format!("tid {tid}"))
    }

    fn flush_read(&mut self, tid: u32, flow: Option<u64>) -> io::Result<()> {
        let Some(Event::DirectRead(r)) = self.pending_read.remove(&tid) else {
            return Ok(());
        };
        let reg = format!("{:?}", common::ReadReg::from_u32(r.reg));
        let args = [
            ("ip", Val::Ptr(r.ip)),
            ("site", Val::U(u64::from(r.site))),
            ("reg", Val::S(&reg)),
            ("counter", Val::U(u64::from(r.counter))),
            ("cpu", Val::U(u64::from(r.h.cpu))),
        ];
        let track = self.thread_track(r.h.pid, r.h.tid)?;
        let flows: Vec<u64> = flow.into_iter().collect();
        self.track_event(
            r.h.ts_ns,
            track,
            TYPE_INSTANT,
            Some("direct read"),
            &args,
            &flows,
            &[],
        )?;
        self.stats.instants += 1;
        Ok(())
    }

    fn set_access(&mut self, ts: u64, cpu: u32, after: Access) -> io::Result<()> {
        let before = self.access.get(&cpu).copied().unwrap_or(Access::Off);
        if before == after {
            return Ok(());
        }
        let track = uuid(K_CPU_ACCESS, cpu);
        if before != Access::Off {
            self.track_event(ts, track, TYPE_SLICE_END, None, &[], &[], &[])?;
        }
        match after {
            Access::On => self.track_event(
                ts,
                track,
                TYPE_SLICE_BEGIN,
                Some("access on"),
                &[],
                &[],
                &[],
            )?,
            Access::Unknown => self.track_event(
                ts,
                track,
                TYPE_SLICE_BEGIN,
                Some("access unknown"),
                &[],
                &[],
                &[],
            )?,
            Access::Off => {}
        }
        if after != Access::Off {
            self.stats.slices += 1;
        }
        self.access.insert(cpu, after);
        Ok(())
    }

    /// Emits the finished one-second buckets before `ts`.
    fn rate_tick(&mut self, ts: u64) -> io::Result<()> {
        if self.toggles.bucket_start.is_none() {
            self.declare(TOGGLES_TRACK, |m| {
                m.string(TD_NAME, "user access toggles/s");
                m.msg(TD_COUNTER, Msg::new().string(CD_UNIT_NAME, "toggles/s"));
            })?;
            self.declare(LOST_TRACK, |m| {
                m.string(TD_NAME, "dropped events/s");
                m.msg(TD_COUNTER, Msg::new().string(CD_UNIT_NAME, "events/s"));
            })?;
            self.toggles.bucket_start = Some(ts);
            self.lost.bucket_start = Some(ts);
            return Ok(());
        }
        self.rate_flush(ts)
    }

    fn rate_flush(&mut self, ts: u64) -> io::Result<()> {
        for track in [TOGGLES_TRACK, LOST_TRACK] {
            let rate = if track == TOGGLES_TRACK {
                &mut self.toggles
            } else {
                &mut self.lost
            };
            let Some(start) = rate.bucket_start else {
                continue;
            };
            if ts < start.saturating_add(BUCKET_NS) {
                continue;
            }
            let value = rate.count;
            rate.count = 0;
            // Next bucket: the one holding `ts` (empty seconds in between read as zero).
            let skipped = (ts - start) / BUCKET_NS;
            let next = start.saturating_add(skipped.saturating_mul(BUCKET_NS));
            rate.bucket_start = Some(next);
            self.counter(start, track, value)?;
            if skipped > 1 && ts != u64::MAX {
                self.counter(start + BUCKET_NS, track, 0)?;
            }
            if ts == u64::MAX {
                self.counter(start + BUCKET_NS, track, 0)?;
            }
        }
        Ok(())
    }

    fn counter(&mut self, ts: u64, track: u64, value: u64) -> io::Result<()> {
        let mut te = Msg::new();
        te.uint(TE_TYPE, TYPE_COUNTER)
            .uint(TE_TRACK_UUID, track)
            .int(TE_COUNTER_VALUE, i64::try_from(value).unwrap_or(i64::MAX));
        self.stats.counters += 1;
        self.packet(Some(ts), |p| {
            p.msg(PKT_TRACK_EVENT, &te);
        })
    }

    fn thread_instant(
        &mut self,
        h: &common::Header,
        name: &str,
        args: &[(&str, Val)],
    ) -> io::Result<()> {
        let track = self.thread_track(h.pid, h.tid)?;
        self.instant(h.ts_ns, track, name, args)
    }

    fn instant(&mut self, ts: u64, track: u64, name: &str, args: &[(&str, Val)]) -> io::Result<()> {
        self.stats.instants += 1;
        self.track_event(ts, track, TYPE_INSTANT, Some(name), args, &[], &[])
    }

    #[expect(clippy::too_many_arguments, reason = "mirrors the TrackEvent fields")]
    fn track_event(
        &mut self,
        ts: u64,
        track: u64,
        kind: u64,
        name: Option<&str>,
        args: &[(&str, Val)],
        flows: &[u64],
        terminating: &[u64],
    ) -> io::Result<()> {
        let mut te = Msg::new();
        te.uint(TE_TYPE, kind).uint(TE_TRACK_UUID, track);
        if kind != TYPE_SLICE_END {
            te.string(TE_CATEGORIES, CATEGORY);
        }
        if let Some(n) = name {
            te.string(TE_NAME, n);
        }
        for (k, v) in args {
            let mut a = Msg::new();
            a.string(DA_NAME, k);
            match v {
                Val::U(x) => a.uint(DA_UINT, *x),
                Val::I(x) => a.int(DA_INT, *x),
                Val::S(x) => a.string(DA_STRING, x),
                Val::Ptr(x) => a.uint(DA_POINTER, *x),
            };
            te.msg(TE_DEBUG_ANNOTATIONS, &a);
        }
        for f in flows {
            te.fixed64(TE_FLOW_IDS, *f);
        }
        for f in terminating {
            te.fixed64(TE_TERMINATING_FLOW_IDS, *f);
        }
        self.packet(Some(ts), |p| {
            p.msg(PKT_TRACK_EVENT, &te);
        })
    }

    fn declare_cpu(&mut self, cpu: u32) -> io::Result<()> {
        self.declare(uuid(K_CPU, cpu), |m| {
            m.string(TD_NAME, &format!("CPU {cpu}"));
        })?;
        self.declare(uuid(K_CPU_ACCESS, cpu), |m| {
            m.string(TD_NAME, &format!("CPU {cpu} user access"));
        })
    }

    /// The thread's track, declared (again, when its name changed) before use.
    fn thread_track(&mut self, pid: u32, tid: u32) -> io::Result<u64> {
        let id = uuid(K_THREAD, tid);
        let name = self.name_of(tid);
        if self.declared_name.get(&tid) == Some(&name) {
            return Ok(id);
        }
        let process = uuid(K_PROCESS, pid);
        if pid != 0 {
            let pname = self
                .names
                .get(&pid)
                .cloned()
                .unwrap_or_else(|| name.clone());
            self.declare(process, |m| {
                m.msg(
                    TD_PROCESS,
                    Msg::new()
                        .int(PD_PID, i64::from(pid))
                        .string(PD_NAME, &pname),
                );
            })?;
        }
        self.declared.remove(&id);
        self.declare(id, |m| {
            if pid != 0 {
                m.uint(TD_PARENT_UUID, process);
            }
            m.msg(
                TD_THREAD,
                Msg::new()
                    .int(THD_PID, i64::from(pid))
                    .int(THD_TID, i64::from(tid))
                    .string(THD_NAME, &name),
            );
        })?;
        self.declared_name.insert(tid, name);
        Ok(id)
    }

    fn declare(&mut self, id: u64, body: impl FnOnce(&mut Msg)) -> io::Result<()> {
        if !self.declared.insert(id) {
            return Ok(());
        }
        let mut td = Msg::new();
        td.uint(TD_UUID, id);
        body(&mut td);
        self.stats.tracks += 1;
        self.packet(None, |p| {
            p.msg(PKT_TRACK_DESCRIPTOR, &td);
        })
    }

    fn packet(&mut self, ts: Option<u64>, body: impl FnOnce(&mut Msg)) -> io::Result<()> {
        let mut pkt = std::mem::take(&mut self.pkt);
        pkt.clear();
        if let Some(ts) = ts {
            pkt.uint(PKT_TIMESTAMP, ts);
        }
        pkt.uint(PKT_SEQUENCE_ID, SEQUENCE);
        if self.first {
            self.first = false;
            pkt.uint(PKT_SEQUENCE_FLAGS, SEQ_INCREMENTAL_STATE_CLEARED);
            pkt.uint(PKT_FIRST_ON_SEQUENCE, 1);
        }
        body(&mut pkt);
        // Trace.packet is repeated: the file is just one `packet` field after another.
        super::proto::write_field(&mut self.out, TRACE_PACKET, pkt.as_bytes())?;
        self.pkt = pkt;
        self.stats.packets += 1;
        Ok(())
    }
}

fn ioctl_name(i: &PerfIoctl) -> String {
    // _IO('$', n): PERF_EVENT_IOC_ENABLE = 0x2400, DISABLE = 0x2401, REFRESH, RESET = 0x2403.
    match i.cmd {
        0x2400 => "ENABLE".into(),
        0x2401 => "DISABLE".into(),
        0x2402 => "REFRESH".into(),
        0x2403 => "RESET".into(),
        c => format!("{c:#x}"),
    }
}

/// A NUL-padded kernel string (comm) as text.
pub fn cstr(b: &[u8]) -> String {
    let end = b.iter().position(|&c| c == 0).unwrap_or(b.len());
    String::from_utf8_lossy(&b[..end]).into_owned()
}
