//! `Engine::feed`: one handler per record kind. The rules are in the module doc of
//! [`crate::engine`].

use common::{
    Access, AccessSource, DirectRead, Event, Exec, Exit, Fork, Header, Hook, HookToggle, Kind,
    Lost, Migrate, Munmap, PageSample, PerfClose, PerfIoctl, PerfMmap, PerfOpen, PerfRead, ReadReg,
    SchedSwitch, Sysctl as SysctlRec, Trap, insn,
};

use super::{
    CAUSE_WINDOW_NS, CHURN_PER_S, EXITED_KEEP, Engine, IOC_DISABLE, IOC_ENABLE,
    MAX_EVENTS_PER_PROCESS, MAX_TASKS, ReadCause, ReadRecord,
    classify::{
        FallbackCause, Outcome, SilentCause, TrapCause, executed, fallback_cause, resolve_event,
        trap_cause, wants_rdpmc,
    },
    facts::Arch,
    findings::{FindingKind, Key},
    state::{Migration, PendingRead, Task, Toggle, ToggleCause, UserEvent, comm_str},
    summary::{Counts, UserAccess},
};

/// `PERF_FLAG_FD_CLOEXEC`.
const PERF_FLAG_FD_CLOEXEC: u32 = 8;
/// `PERF_IOC_FLAG_GROUP`.
const IOC_FLAG_GROUP: u64 = 1;

fn ua(a: Access) -> UserAccess {
    match a {
        Access::On => UserAccess::On,
        Access::Off => UserAccess::Off,
        Access::Unknown => UserAccess::Unknown,
    }
}

/// Records that create a task row for their header task.
fn creates_task(k: Kind) -> bool {
    !matches!(
        k,
        Kind::SchedSwitch | Kind::Lost | Kind::Sysctl | Kind::HookToggle
    )
}

impl Engine {
    /// Feeds one record. Never panics, whatever the record holds.
    pub fn feed(&mut self, ev: &Event) {
        let h = *ev.header();
        let kind = ev.kind();
        self.records += 1;
        self.kinds[kind as usize] += 1;
        self.first_ts.get_or_insert(h.ts_ns);
        self.now = self.now.max(h.ts_ns);
        self.rates.advance(self.now);
        self.rates.cur.records_per_s += 1;
        if h.cpu >= super::MAX_CPUS {
            self.dropped.bad_cpu_records += 1;
        }
        self.recent.push(*ev);

        if creates_task(kind) {
            self.ensure_task(h.pid, h.tid);
        }
        if let Some(t) = self.tasks.get_mut(&h.tid) {
            t.records[kind as usize] += 1;
            t.last_ts = t.last_ts.max(h.ts_ns);
        } else if h.tid != 0 && creates_task(kind) {
            self.dropped.untracked_task_records += 1;
        }
        // The thread's next record settles its pending direct read, unless it is the trap
        // that read raised: at the read's ip, or elsewhere on a copy of a counter read (a
        // uprobe single-steps a copy of the probed instruction in its XOL page, so the fault
        // ip is there).
        if creates_task(kind) {
            let trap = match ev {
                Event::Trap(t) => Some((t.ip, self.decodes_as_read(t))),
                _ => None,
            };
            let settle =
                self.tasks
                    .get(&h.tid)
                    .and_then(|t| t.pending)
                    .is_some_and(|p| match trap {
                        Some((ip, copy)) => !(ip == p.ip || ip == 0 || p.ip == 0 || copy),
                        None => true,
                    });
            if settle {
                self.settle_pending(h.tid);
            }
        }

        match ev {
            Event::SchedSwitch(s) => self.on_switch(&h, s),
            Event::Migrate(m) => self.on_migrate(&h, m),
            Event::Trap(t) => self.on_trap(&h, t),
            Event::PerfOpen(o) => self.on_open(&h, o),
            Event::PerfIoctl(i) => self.on_ioctl(&h, i),
            Event::PerfMmap(m) => self.on_mmap(&h, m),
            Event::Munmap(m) => self.on_munmap(&h, m),
            Event::PerfRead(r) => self.on_read(&h, r),
            Event::PerfClose(c) => self.on_close(&h, c),
            Event::Fork(f) => self.on_fork(&h, f),
            Event::Exec(e) => self.on_exec(&h, e),
            Event::Exit(x) => self.on_exit(&h, x),
            Event::DirectRead(d) => self.on_direct_read(&h, d),
            Event::ReaderCall(_) => self.on_reader_return(h.tid),
            Event::PageSample(p) => self.on_page_sample(&h, p),
            Event::Lost(l) => self.on_lost(&h, l),
            Event::Comm(c) => {
                if let Some(t) = self.tasks.get_mut(&h.tid) {
                    t.comm = c.comm;
                }
            }
            Event::Sysctl(s) => self.on_sysctl(&h, s),
            Event::HookToggle(k) => self.on_hook(&h, k),
        }
        self.findings.after(ev);
    }

    /// Adds to the totals and to `tid`'s counts.
    fn count(&mut self, tid: u32, f: impl Fn(&mut Counts)) {
        f(&mut self.totals);
        if let Some(t) = self.tasks.get_mut(&tid) {
            f(&mut t.counts);
        }
    }

    fn ensure_task(&mut self, pid: u32, tid: u32) -> bool {
        if tid == 0 {
            return false;
        }
        if self.tasks.contains_key(&tid) {
            return true;
        }
        if self.tasks.len() >= MAX_TASKS {
            return false;
        }
        self.tasks.insert(tid, Task::new(pid, tid, self.now));
        true
    }

    /// The task's raw `comm`; made a string only when a finding opens (no allocation on
    /// the per-record path).
    fn comm_of(&self, tid: u32) -> [u8; 16] {
        self.tasks.get(&tid).map(|t| t.comm).unwrap_or_default()
    }

    fn record_read(
        &mut self,
        h: &Header,
        outcome: Outcome,
        cause: ReadCause,
        counter: Option<u32>,
        pmu: Option<u32>,
    ) {
        self.read_seq += 1;
        self.rates.cur.reads_per_s += 1;
        self.reads.push(ReadRecord {
            seq: self.read_seq,
            ts_ns: h.ts_ns,
            cpu: h.cpu,
            pid: h.pid,
            tid: h.tid,
            outcome,
            cause,
            counter,
            pmu_type: pmu,
        });
    }

    // ---- access -------------------------------------------------------------------------

    /// The engine's own access model for a task coming onto a CPU.
    fn model_access(&self, pid: u32, tid: u32) -> UserAccess {
        let arch = self.facts.arch;
        if self.sysctl.user_access_off(arch) {
            return UserAccess::Off;
        }
        if arch != Arch::Aarch64 && self.sysctl.rdpmc_mode == Some(2) {
            return UserAccess::On;
        }
        if tid == 0 {
            return UserAccess::Off;
        }
        let arm = self.tasks.get(&tid).is_some_and(|t| t.nr_user > 0);
        let x86 = self.procs.get(&pid).is_some_and(|p| p.mapped_hw > 0);
        let on = match arch {
            Arch::Aarch64 => arm,
            Arch::X86_64 => x86,
            Arch::Unknown => arm || x86,
        };
        if on { UserAccess::On } else { UserAccess::Off }
    }

    /// Sets a CPU's access; counts a toggle on an on <-> off change.
    fn set_access(
        &mut self,
        cpu: u32,
        new: UserAccess,
        cause: ToggleCause,
        blame: u32,
        pair: Option<(u32, u32)>,
    ) {
        if new == UserAccess::Unknown {
            return;
        }
        let now = self.now;
        let Some(c) = self.cpu_mut(cpu) else {
            return;
        };
        let was = c.access;
        if was == new {
            return;
        }
        c.access = new;
        if was == UserAccess::Unknown {
            return;
        }
        c.toggles += 1;
        c.history.push(Toggle {
            ts_ns: now,
            on: new == UserAccess::On,
            cause,
        });
        c.rate.advance(now / 1_000_000_000);
        let per_s = c.rate.hit(pair);
        let total = c.toggles;
        let top = c.rate.top_pair();
        let comms = c.comms;
        self.rates.cur.toggles_per_s += 1;
        self.count(blame, |k| k.toggles += 1);
        if per_s >= CHURN_PER_S {
            let key = Key::new(FindingKind::ToggleChurn).cpu(cpu);
            let tasks = &self.tasks;
            if let Some(f) = self
                .findings
                .hit(key, now, None, Some(cpu), &self.recent, |d| {
                    d.cpu = Some(cpu);
                })
            {
                f.d.total = total;
                if per_s as u64 > f.d.rate {
                    f.d.rate = per_s as u64;
                    let name = |tid: u32| {
                        let known = tasks
                            .get(&tid)
                            .map(|t| comm_str(&t.comm))
                            .unwrap_or_default();
                        if !known.is_empty() {
                            return known;
                        }
                        comms
                            .iter()
                            .find(|(t, _)| *t == tid)
                            .map(|(_, c)| comm_str(c))
                            .unwrap_or_default()
                    };
                    f.d.pair = top.map(|(a, b)| ((a, name(a)), (b, name(b))));
                }
            }
        }
    }

    fn on_switch(&mut self, h: &Header, s: &SchedSwitch) {
        let (cpu, prev, next) = (h.cpu, s.prev_tid, h.tid);
        if prev != 0
            && let Some(t) = self.tasks.get_mut(&prev)
        {
            t.running = false;
        }
        if next != 0
            && let Some(t) = self.tasks.get_mut(&next)
        {
            t.running = true;
            t.seen_on(cpu);
        }
        let model = s.source == AccessSource::Model as u8;
        let new = if model {
            ua(Access::from_u8(s.access))
        } else {
            self.model_access(h.pid, next)
        };
        let ts = self.now;
        let Some(c) = self.cpu_mut(cpu) else {
            return;
        };
        c.running_pid = h.pid;
        c.running_tid = next;
        c.running_comm = s.next_comm;
        c.remember_comm(next, s.next_comm);
        c.last_switch = Some((ts, prev, next));
        if c.hooked {
            return;
        }
        if model {
            let before = ua(Access::from_u8(s.prev_access));
            if before != UserAccess::Unknown {
                c.access = before;
            }
        }
        let blame = if new == UserAccess::On { next } else { prev };
        self.set_access(
            cpu,
            new,
            ToggleCause::ContextSwitch {
                prev_tid: prev,
                next_tid: next,
            },
            blame,
            Some((prev, next)),
        );
    }

    fn on_hook(&mut self, h: &Header, k: &HookToggle) {
        let hook = Hook::from_u32(k.hook);
        if hook == Hook::ArmpmuAddWrongCpu {
            self.wrong_cpu_hook(h);
            return;
        }
        let new = ua(Access::from_u8(k.access.min(255) as u8));
        let now = self.now;
        let last_action = self.last_action;
        let Some(c) = self.cpu_mut(h.cpu) else {
            return;
        };
        c.hooked = true;
        let near = |ts: u64| now.saturating_sub(ts) <= CAUSE_WINDOW_NS;
        let (cause, blame, pair) = match (c.last_switch, last_action) {
            (Some((ts, p, n)), _) if near(ts) => (
                ToggleCause::ContextSwitch {
                    prev_tid: p,
                    next_tid: n,
                },
                if new == UserAccess::On { n } else { p },
                Some((p, n)),
            ),
            (_, Some((ts, cause))) if near(ts) => (cause, cause_tid(&cause).unwrap_or(h.tid), None),
            _ => (ToggleCause::Hook { hook: k.hook }, h.tid, None),
        };
        self.set_access(h.cpu, new, cause, blame, pair);
    }

    /// `armpmu_add` said -ENOENT: the task's event cannot count on this CPU type.
    fn wrong_cpu_hook(&mut self, h: &Header) {
        let ctx = self.ctx();
        let pmu = self.procs.get(&h.pid).and_then(|p| {
            p.events
                .iter()
                .filter(|e| e.user_readable())
                .find(|e| e.pmu.and_then(|t| ctx.covers(t, h.cpu)) == Some(false))
                .and_then(|e| e.pmu)
        });
        let comm = self.comm_of(h.tid);
        let key = Key::new(FindingKind::WrongCpuType)
            .tid(h.tid)
            .sub(pmu.unwrap_or(u32::MAX));
        self.findings
            .hit(key, h.ts_ns, Some(h.tid), Some(h.cpu), &self.recent, |d| {
                d.tid = h.tid;
                d.comm = comm_str(&comm);
                d.pmu = pmu;
                d.cpu = Some(h.cpu);
                d.hook = true;
            });
    }

    // ---- tasks and CPUs --------------------------------------------------------------------

    fn on_migrate(&mut self, h: &Header, m: &Migrate) {
        self.count(h.tid, |c| c.migrations += 1);
        if let Some(t) = self.tasks.get_mut(&h.tid) {
            t.last_migration = Some(Migration {
                ts_ns: h.ts_ns,
                from: m.orig_cpu,
                to: m.dest_cpu,
            });
            t.seen_on(m.dest_cpu);
        }
    }

    fn on_fork(&mut self, h: &Header, f: &Fork) {
        let (cpid, ctid) = (f.child_pid, f.child_tid);
        if ctid == 0 || ctid == h.tid {
            return;
        }
        if self.tasks.get(&ctid).is_some_and(|t| t.exited) {
            self.fold(ctid);
        }
        if !self.ensure_task(cpid, ctid) {
            return;
        }
        let comm = self.tasks.get(&h.tid).map(|t| t.comm).unwrap_or_default();
        // Inherited events count the child too (attr.inherit).
        let inherited = self.procs.get(&h.pid).map_or(0, |p| {
            p.events
                .iter()
                .filter(|e| e.inherit && e.user_readable() && e.owner_tid == Some(h.tid))
                .count() as u32
        });
        if let Some(t) = self.tasks.get_mut(&ctid) {
            t.pid = cpid;
            t.comm = comm;
            t.nr_user += inherited;
            t.seen_on(h.cpu);
        }
        if cpid != h.pid && cpid == ctid {
            // A new process: the fd table is copied, perf mappings are not (VM_DONTCOPY).
            let events: Vec<UserEvent> = self
                .procs
                .get(&h.pid)
                .map(|p| {
                    p.events
                        .iter()
                        .filter(|e| e.fd.is_some())
                        .map(|e| UserEvent {
                            mmapped: false,
                            dup: true,
                            ..e.clone()
                        })
                        .collect()
                })
                .unwrap_or_default();
            let p = self.procs.entry(cpid).or_default();
            p.events = events;
            p.mapped_hw = 0;
        }
    }

    fn on_exec(&mut self, h: &Header, e: &Exec) {
        if let Some(t) = self.tasks.get_mut(&h.tid) {
            t.comm = e.comm;
        }
        self.last_action = Some((h.ts_ns, ToggleCause::Exec { tid: h.tid }));
        let Some(p) = self.procs.get_mut(&h.pid) else {
            return;
        };
        let had = p.mapped_hw;
        p.mapped_hw = 0;
        for ev in &mut p.events {
            ev.mmapped = false;
        }
        let gone: Vec<usize> = (0..p.events.len())
            .rev()
            .filter(|&i| p.events[i].cloexec || p.events[i].fd.is_none())
            .collect();
        for i in gone {
            self.drop_event(h.pid, i);
        }
        if had > 0 && self.facts.arch == Arch::X86_64 {
            self.x86_mm_access(h, UserAccess::Off, ToggleCause::Exec { tid: h.tid });
        }
    }

    fn on_exit(&mut self, h: &Header, x: &Exit) {
        if let Some(t) = self.tasks.get_mut(&h.tid)
            && !t.exited
        {
            t.exited = true;
            t.running = false;
            self.exited.push_back(h.tid);
        }
        if x.group_dead != 0 {
            if let Some(p) = self.procs.get(&h.pid) {
                for i in (0..p.events.len()).rev() {
                    self.drop_event(h.pid, i);
                }
            }
            self.procs.remove(&h.pid);
        }
        while self.exited.len() > EXITED_KEEP {
            if let Some(tid) = self.exited.pop_front()
                && self.tasks.get(&tid).is_some_and(|t| t.exited)
            {
                self.fold(tid);
            }
        }
    }

    /// Forgets an exited task, keeping its counts in `folded`.
    fn fold(&mut self, tid: u32) {
        if let Some(t) = self.tasks.remove(&tid) {
            self.folded.add(&t.counts);
            self.dropped.folded_tasks += 1;
        }
    }

    fn on_lost(&mut self, h: &Header, l: &Lost) {
        self.lost = self.lost.saturating_add(l.count);
        let v = self.lost_per_cpu.entry(h.cpu).or_insert(0);
        *v = v.saturating_add(l.count);
        self.rates.cur.lost_per_s = self.rates.cur.lost_per_s.saturating_add(l.count);
        if let Some(c) = self.cpu_mut(h.cpu) {
            c.lost = c.lost.saturating_add(l.count);
        }
        if l.count == 0 {
            return;
        }
        let total = self.lost;
        let key = Key::new(FindingKind::LostRecords);
        if let Some(f) = self
            .findings
            .hit(key, h.ts_ns, None, Some(h.cpu), &self.recent, |_| {})
        {
            f.d.total = total;
        }
    }

    fn on_sysctl(&mut self, h: &Header, s: &SysctlRec) {
        let arch = self.facts.arch;
        let prev = self.sysctl;
        let val = |v: i32| (v >= 0).then_some(v);
        self.sysctl.perf_user_access = val(s.perf_user_access);
        self.sysctl.rdpmc_mode = val(s.rdpmc_mode);
        self.sysctl.paranoid = val(s.paranoid);
        self.last_action = Some((h.ts_ns, ToggleCause::Sysctl));
        let was_off = prev.user_access_off(arch);
        let known_before = prev.perf_user_access.is_some() || prev.rdpmc_mode.is_some();
        let off = self.sysctl.user_access_off(arch);
        let always = arch != Arch::Aarch64
            && self.sysctl.rdpmc_mode == Some(2)
            && prev.rdpmc_mode != Some(2);
        let ncpus = self.cpus.len() as u32;
        if off && !was_off && known_before {
            let mut owners: Vec<u32> = Vec::new();
            let mut open = 0u32;
            let mut pids: Vec<&u32> = self.procs.keys().collect();
            pids.sort_unstable();
            for pid in pids {
                for e in &self.procs[pid].events {
                    if e.user_readable() && !e.dup {
                        open += 1;
                        if let Some(o) = e.owner_tid {
                            owners.push(o);
                        }
                    }
                }
            }
            if open > 0 {
                self.sysctl.flipped_off_ts = Some(h.ts_ns);
                let key = Key::new(FindingKind::SysctlFlipped);
                if let Some(f) = self
                    .findings
                    .hit(key, h.ts_ns, None, None, &self.recent, |d| {
                        d.open_events = open;
                    })
                {
                    for o in owners {
                        f.note_tid(o);
                    }
                }
            }
            for cpu in 0..ncpus {
                self.set_access(cpu, UserAccess::Off, ToggleCause::Sysctl, h.tid, None);
            }
        } else if always {
            for cpu in 0..ncpus {
                self.set_access(cpu, UserAccess::On, ToggleCause::Sysctl, h.tid, None);
            }
        }
    }

    // ---- perf events ---------------------------------------------------------------------

    fn on_open(&mut self, h: &Header, o: &PerfOpen) {
        self.count(h.tid, |c| c.perf_opens += 1);
        self.last_action = Some((h.ts_ns, ToggleCause::Open { tid: h.tid }));
        let arch = self.facts.arch;
        let (pmu, hardware) = resolve_event(&self.facts, o.attr_type, o.config);
        if o.ret < 0 {
            self.count(h.tid, |c| c.perf_open_failed += 1);
            if hardware && self.ctx().no_hardware_pmu() {
                let key = Key::new(FindingKind::NoHardwarePmu);
                let errno = o.ret;
                if let Some(f) =
                    self.findings
                        .hit(key, h.ts_ns, Some(h.tid), None, &self.recent, |d| {
                            d.errno = errno;
                        })
                    && f.d.errno == 0
                {
                    f.d.errno = errno;
                }
            }
            return;
        }
        let fd = o.ret.min(i32::MAX as i64) as i32;
        let owner = match o.target_pid {
            0 => Some(h.tid),
            p if p > 0 => Some(p as u32),
            _ => None,
        };
        let ev = UserEvent {
            fd: Some(fd),
            attr_type: o.attr_type,
            config: o.config,
            config1: o.config1,
            pmu,
            hardware,
            rdpmc: wants_rdpmc(arch, o.config1),
            enabled: o.attr_flags & 1 == 0,
            mmapped: false,
            map_addr: 0,
            map_len: 0,
            counter: None,
            owner_tid: owner,
            inherit: o.attr_flags & 2 != 0,
            cloexec: o.flags & PERF_FLAG_FD_CLOEXEC != 0,
            group_fd: o.group_fd,
            last_lock: None,
            last_index: None,
            dup: false,
        };
        // An fd we thought open (its close was lost): forget it.
        if let Some(i) = self.procs.get(&h.pid).and_then(|p| p.event_by_fd(fd)) {
            self.close_index(h.pid, i);
        }
        let p = self.procs.entry(h.pid).or_default();
        if p.events.len() >= MAX_EVENTS_PER_PROCESS {
            self.dropped.perf_events += 1;
            return;
        }
        let readable = ev.user_readable();
        let enabled = ev.enabled;
        p.events.push(ev);
        if readable && let Some(t) = owner.and_then(|o| self.tasks.get_mut(&o)) {
            t.nr_user += 1;
        }
        // arm64: the event is added on the caller's CPU right away; armv8pmu_start turns
        // access on there.
        let hooked = self.cpus.get(h.cpu as usize).is_some_and(|c| c.hooked);
        if arch == Arch::Aarch64
            && readable
            && enabled
            && owner == Some(h.tid)
            && !hooked
            && !self.sysctl.user_access_off(arch)
        {
            self.set_access(
                h.cpu,
                UserAccess::On,
                ToggleCause::Open { tid: h.tid },
                h.tid,
                None,
            );
        }
    }

    fn on_ioctl(&mut self, h: &Header, i: &PerfIoctl) {
        self.count(h.tid, |c| c.ioctls += 1);
        self.last_action = Some((h.ts_ns, ToggleCause::Ioctl { tid: h.tid }));
        if i.ret < 0 || !(i.cmd == IOC_ENABLE || i.cmd == IOC_DISABLE) {
            return;
        }
        let on = i.cmd == IOC_ENABLE;
        let group = i.arg & IOC_FLAG_GROUP != 0;
        if let Some(p) = self.procs.get_mut(&h.pid) {
            for e in &mut p.events {
                if e.fd == Some(i.fd) || (group && e.group_fd == i.fd) {
                    e.enabled = on;
                }
            }
        }
    }

    fn on_mmap(&mut self, h: &Header, m: &PerfMmap) {
        self.count(h.tid, |c| c.mmaps += 1);
        self.last_action = Some((h.ts_ns, ToggleCause::Mmap { tid: h.tid }));
        if m.ret < 0 {
            return;
        }
        let Some(p) = self.procs.get_mut(&h.pid) else {
            return;
        };
        let Some(i) = p.event_by_fd(m.fd) else {
            return;
        };
        let e = &mut p.events[i];
        if e.mmapped {
            return;
        }
        e.mmapped = true;
        e.map_addr = m.ret as u64;
        e.map_len = m.len;
        if e.user_readable() {
            p.mapped_hw += 1;
            if p.mapped_hw == 1 && self.facts.arch == Arch::X86_64 {
                self.x86_mm_access(h, UserAccess::On, ToggleCause::Mmap { tid: h.tid });
            }
        }
    }

    /// The probe reports every munmap of a target (it cannot tell perf mappings apart); only
    /// those that unmap a perf mapping the engine saw are counted (`munmaps`).
    fn on_munmap(&mut self, h: &Header, m: &Munmap) {
        if m.ret != 0 {
            return;
        }
        let Some(p) = self.procs.get_mut(&h.pid) else {
            return;
        };
        let end = m.addr.saturating_add(m.len);
        let mut unmapped_hw = false;
        let mut unmapped = false;
        for e in &mut p.events {
            if e.mmapped && e.map_addr >= m.addr && e.map_addr < end {
                e.mmapped = false;
                unmapped = true;
                if e.user_readable() {
                    p.mapped_hw = p.mapped_hw.saturating_sub(1);
                    unmapped_hw = true;
                }
            }
        }
        if !unmapped {
            return;
        }
        let now_zero = p.mapped_hw == 0;
        // Events whose fd was closed live on while mapped; unmapped now, they are gone.
        let gone: Vec<usize> = (0..p.events.len())
            .rev()
            .filter(|&i| p.events[i].fd.is_none() && !p.events[i].mmapped)
            .collect();
        self.count(h.tid, |c| c.munmaps += 1);
        for i in gone {
            self.drop_event(h.pid, i);
        }
        if !unmapped_hw {
            return;
        }
        self.last_action = Some((h.ts_ns, ToggleCause::Munmap { tid: h.tid }));
        if now_zero && self.facts.arch == Arch::X86_64 {
            self.x86_mm_access(h, UserAccess::Off, ToggleCause::Munmap { tid: h.tid });
        }
    }

    /// x86: `perf_rdpmc_allowed` changed for this mm: CR4.PCE follows on the CPUs running it.
    fn x86_mm_access(&mut self, h: &Header, new: UserAccess, cause: ToggleCause) {
        if matches!(self.sysctl.rdpmc_mode, Some(0) | Some(2)) {
            return;
        }
        let cpus: Vec<u32> = self
            .cpus
            .iter()
            .enumerate()
            .filter(|(i, c)| {
                !c.hooked && (*i as u32 == h.cpu || (h.pid != 0 && c.running_pid == h.pid))
            })
            .map(|(i, _)| i as u32)
            .collect();
        for cpu in cpus {
            self.set_access(cpu, new, cause, h.tid, None);
        }
    }

    fn on_close(&mut self, h: &Header, c: &PerfClose) {
        self.count(h.tid, |k| k.closes += 1);
        self.last_action = Some((h.ts_ns, ToggleCause::Close { tid: h.tid }));
        if c.ret < 0 {
            return;
        }
        let Some(i) = self.procs.get(&h.pid).and_then(|p| p.event_by_fd(c.fd)) else {
            return;
        };
        let readable = self.procs[&h.pid].events[i].user_readable();
        if readable && let Some(cpu) = self.cpu_mut(h.cpu) {
            cpu.last_close = Some((h.ts_ns, h.tid));
        }
        self.close_index(h.pid, i);
    }

    /// The fd goes away; the event lives on while mapped.
    fn close_index(&mut self, pid: u32, i: usize) {
        let Some(p) = self.procs.get_mut(&pid) else {
            return;
        };
        let Some(e) = p.events.get_mut(i) else {
            return;
        };
        e.fd = None;
        if !e.mmapped {
            self.drop_event(pid, i);
        }
    }

    /// Removes event `i` of `pid`, undoing what it added to its owner's `nr_user`.
    fn drop_event(&mut self, pid: u32, i: usize) {
        let Some(p) = self.procs.get_mut(&pid) else {
            return;
        };
        if i >= p.events.len() {
            return;
        }
        let e = p.events.remove(i);
        if e.mmapped && e.user_readable() {
            p.mapped_hw = p.mapped_hw.saturating_sub(1);
        }
        if e.user_readable()
            && !e.dup
            && let Some(t) = e.owner_tid.and_then(|o| self.tasks.get_mut(&o))
        {
            t.nr_user = t.nr_user.saturating_sub(1);
        }
    }

    fn on_page_sample(&mut self, h: &Header, s: &PageSample) {
        self.count(h.tid, |c| c.page_samples += 1);
        let mut changed = false;
        if let Some(e) = self
            .procs
            .get_mut(&h.pid)
            .and_then(|p| p.events.iter_mut().find(|e| e.fd == Some(s.fd)))
        {
            if s.index != 0 {
                e.counter = Some(s.index - 1);
            }
            changed = e.last_lock.is_some_and(|l| l != s.lock);
            e.last_lock = Some(s.lock);
            e.last_index = Some(s.index);
        }
        if changed {
            self.count(h.tid, |c| c.lock_changes += 1);
        }
    }

    // ---- reads ---------------------------------------------------------------------------

    fn on_direct_read(&mut self, h: &Header, d: &DirectRead) {
        self.count(h.tid, |c| c.direct_reads += 1);
        let Some(t) = self.tasks.get_mut(&h.tid) else {
            return;
        };
        t.seen_on(h.cpu);
        // Another read at the same site: the previous one is superseded (a retry, if the
        // reader's return shows both were in one call).
        if let Some((ip, outcome)) = t.last_exec.take()
            && ip == d.ip
        {
            let slot = usize::from(outcome != Outcome::Ok);
            t.superseded[slot] = t.superseded[slot].saturating_add(1);
        }
        t.pending = Some(PendingRead {
            ts_ns: h.ts_ns,
            cpu: h.cpu,
            ip: d.ip,
            counter: (d.counter != u32::MAX).then_some(d.counter),
            reg: ReadReg::from_u32(d.reg),
            site: (d.site != u32::MAX).then_some(d.site),
        });
        t.counts.reads.pending += 1;
        self.totals.reads.pending += 1;
    }

    /// A known reader function (libperf `perf_mmap__read_self`, ...) returned. Its seqlock
    /// loop repeats the counter read when the page changed under it, so every read followed by
    /// another at the same site within the call was a `seq-retry` (whether it read ok or
    /// silent). Calls are bounded by returns only: the reads before a thread's first return
    /// count as its first call.
    fn on_reader_return(&mut self, tid: u32) {
        self.count(tid, |c| c.reader_calls += 1);
        let Some(t) = self.tasks.get_mut(&tid) else {
            return;
        };
        t.last_exec = None;
        let [ok, silent] = std::mem::take(&mut t.superseded).map(u64::from);
        if ok + silent > 0 {
            self.count(tid, |c| {
                c.reads.ok = c.reads.ok.saturating_sub(ok);
                c.reads.silent_wrong_pmu = c.reads.silent_wrong_pmu.saturating_sub(silent);
                c.reads.seq_retry += ok + silent;
            });
        }
    }

    /// Takes `tid`'s pending read off its books (None when there is none).
    fn take_pending(&mut self, tid: u32) -> Option<PendingRead> {
        let t = self.tasks.get_mut(&tid)?;
        let p = t.pending.take()?;
        t.counts.reads.pending = t.counts.reads.pending.saturating_sub(1);
        self.totals.reads.pending = self.totals.reads.pending.saturating_sub(1);
        Some(p)
    }

    /// A pending direct read executed (no trap followed): ok or silent.
    pub(super) fn settle_pending(&mut self, tid: u32) {
        let Some(p) = self.take_pending(tid) else {
            return;
        };
        let Some(t) = self.tasks.get(&tid) else {
            return;
        };
        let (pid, comm, migration) = (t.pid, t.comm, t.last_migration);
        let proc = self.procs.get(&pid);
        let idx = proc.and_then(|pr| pr.event_for(tid, p.counter));
        let ev = idx.and_then(|i| proc.and_then(|pr| pr.events.get(i)));
        let silent = executed(&self.ctx(), proc, ev, p.cpu);
        let pmu = ev.and_then(|e| e.pmu);
        let counter = p.counter.or(ev.and_then(|e| e.counter));
        if let (Some(i), Some(c)) = (idx, p.counter)
            && let Some(e) = self.procs.get_mut(&pid).and_then(|pr| pr.events.get_mut(i))
        {
            e.counter.get_or_insert(c);
        }
        let h = Header {
            cpu: p.cpu,
            ts_ns: p.ts_ns,
            pid,
            tid,
            ..Header::default()
        };
        let Some(cause) = silent else {
            self.count(tid, |c| c.reads.ok += 1);
            if let Some(t) = self.tasks.get_mut(&tid) {
                t.last_exec = Some((p.ip, Outcome::Ok));
            }
            self.record_read(&h, Outcome::Ok, ReadCause::None, counter, pmu);
            return;
        };
        self.count(tid, |c| c.reads.silent_wrong_pmu += 1);
        if let Some(t) = self.tasks.get_mut(&tid) {
            t.last_exec = Some((p.ip, Outcome::SilentWrongPmu));
        }
        self.record_read(
            &h,
            Outcome::SilentWrongPmu,
            ReadCause::Silent(cause),
            counter,
            pmu,
        );
        let closed_by = self
            .cpu_mut(p.cpu)
            .map(|c| {
                c.silent += 1;
                c.last_close
            })
            .and_then(|c| c.map(|(_, t)| t));
        let from_cpu = migration.filter(|m| m.to == p.cpu).map(|m| m.from);
        let (key, cpu_note) = match cause {
            SilentCause::WrongPmu => (
                Key::new(FindingKind::SilentWrongPmu)
                    .tid(tid)
                    .sub(pmu.unwrap_or(u32::MAX)),
                Some(p.cpu),
            ),
            SilentCause::NoEvent => (
                Key::new(FindingKind::AccessLeftOpen).cpu(p.cpu),
                Some(p.cpu),
            ),
            SilentCause::EventDisabled => (Key::new(FindingKind::StaleRead).tid(tid), Some(p.cpu)),
        };
        self.findings
            .hit(key, p.ts_ns, Some(tid), cpu_note, &self.recent, |d| {
                d.tid = tid;
                d.comm = comm_str(&comm);
                d.pmu = pmu;
                d.counter = counter;
                d.reg = Some(p.reg);
                d.cpu = Some(p.cpu);
                d.from_cpu = from_cpu;
                d.closed_by = closed_by;
                d.site = p.site;
            });
    }

    /// The trap's instruction bytes decode as a counter read on this arch.
    fn decodes_as_read(&self, tr: &Trap) -> bool {
        let n = (tr.insn_len as usize).min(tr.insn.len());
        insn::decode_at(self.is_arm64(tr), &tr.insn[..n]).is_some()
    }

    fn is_arm64(&self, tr: &Trap) -> bool {
        match self.facts.arch {
            Arch::Aarch64 => true,
            Arch::X86_64 => false,
            Arch::Unknown => tr.signo == 4,
        }
    }

    fn on_trap(&mut self, h: &Header, tr: &Trap) {
        let pending = self.take_pending(h.tid);
        // A trapped read is not retried: it ends the chain of reads at its site.
        if let Some(t) = self.tasks.get_mut(&h.tid) {
            t.last_exec = None;
        }
        let arm = self.is_arm64(tr);
        let n = (tr.insn_len as usize).min(tr.insn.len());
        let decoded = insn::decode_at(arm, &tr.insn[..n]);
        let signature = if arm {
            tr.signo == 4 && tr.si_code == 1
        } else {
            tr.signo == 11 && tr.si_code == 0x80
        };
        if pending.is_none() && decoded.is_none() && !(n == 0 && signature) {
            self.count(h.tid, |c| c.other_signals += 1);
            return;
        }
        self.count(h.tid, |c| {
            c.traps += 1;
            c.reads.trap += 1;
        });
        self.rates.cur.traps_per_s += 1;
        let reg = decoded
            .map(|d| d.reg)
            .or(pending.map(|p| p.reg))
            .filter(|r| *r != ReadReg::Unknown);
        let counter = decoded
            .and_then(|d| d.counter)
            .or(pending.and_then(|p| p.counter));
        let (comm, migration) = self
            .tasks
            .get(&h.tid)
            .map(|t| (t.comm, t.last_migration))
            .unwrap_or_default();
        let (access, last_toggle) = match self.cpu_mut(h.cpu) {
            Some(c) => {
                c.traps += 1;
                (c.access, c.history.last().copied())
            }
            None => (UserAccess::Unknown, None),
        };
        let proc = self.procs.get(&h.pid);
        let ev = proc
            .and_then(|p| p.event_for(h.tid, counter))
            .and_then(|i| proc.and_then(|p| p.events.get(i)));
        let cause = trap_cause(&self.ctx(), proc, ev, h.cpu, access);
        let pmu = ev.and_then(|e| e.pmu);
        let counter = counter.or(ev.and_then(|e| e.counter));
        self.record_read(h, Outcome::Trap, ReadCause::Trap(cause), counter, pmu);
        // The migration or access change that came last before the trap.
        let from_cpu = migration.filter(|m| m.to == h.cpu).map(|m| m.from);
        let toggle_cause = last_toggle.filter(|t| !t.on).map(|t| t.cause);
        let fill = |d: &mut super::findings::Detail| {
            d.tid = h.tid;
            d.comm = comm_str(&comm);
            d.pmu = pmu;
            d.counter = counter;
            d.reg = reg;
            d.cpu = Some(h.cpu);
            d.from_cpu = from_cpu;
            // Under a read-site uprobe the fault ip is the uprobe's XOL copy; name the site.
            d.ip = pending.map(|p| p.ip).filter(|ip| *ip != 0).unwrap_or(tr.ip);
            d.site = pending.and_then(|p| p.site);
            d.signo = tr.signo;
            d.si_code = tr.si_code;
            d.trap_cause = Some(cause);
            d.toggle_cause = toggle_cause;
        };
        let (tid, cpu) = (Some(h.tid), Some(h.cpu));
        match cause {
            TrapCause::WrongPmu => {
                let key = Key::new(FindingKind::TrapWrongPmu)
                    .tid(h.tid)
                    .sub(pmu.unwrap_or(u32::MAX));
                self.findings
                    .hit(key, h.ts_ns, tid, cpu, &self.recent, fill);
            }
            TrapCause::SysctlOff => {
                let kind = if self.sysctl.flipped_off_ts.is_some() {
                    FindingKind::SysctlFlipped
                } else {
                    FindingKind::SysctlOff
                };
                if let Some(f) =
                    self.findings
                        .hit(Key::new(kind), h.ts_ns, tid, cpu, &self.recent, |_| {})
                {
                    f.d.traps += 1;
                }
            }
            _ => {
                if cause == TrapCause::NoHardwarePmu {
                    let key = Key::new(FindingKind::NoHardwarePmu);
                    if let Some(f) =
                        self.findings
                            .hit(key, h.ts_ns, tid, None, &self.recent, |_| {})
                    {
                        f.d.traps += 1;
                    }
                }
                let key = Key::new(FindingKind::Trap).tid(h.tid).sub(cause as u32);
                self.findings
                    .hit(key, h.ts_ns, tid, cpu, &self.recent, fill);
            }
        }
    }

    fn on_read(&mut self, h: &Header, r: &PerfRead) {
        self.count(h.tid, |c| {
            c.fallback_reads += 1;
            c.reads.index0_fallback += 1;
        });
        self.rates.cur.fallbacks_per_s += 1;
        if let Some(c) = self.cpu_mut(h.cpu) {
            c.fallbacks += 1;
        }
        let proc = self.procs.get(&h.pid);
        let ev = proc
            .and_then(|p| p.event_by_fd(r.fd))
            .and_then(|i| proc.and_then(|p| p.events.get(i)));
        let cause = fallback_cause(&self.ctx(), ev, h.cpu);
        let (pmu, counter) = (ev.and_then(|e| e.pmu), ev.and_then(|e| e.counter));
        let (attr_type, config) = ev.map_or((0, 0), |e| (e.attr_type, e.config));
        let no_pmu = self.ctx().no_hardware_pmu();
        self.record_read(
            h,
            Outcome::Index0Fallback,
            ReadCause::Fallback(cause),
            counter,
            pmu,
        );
        let comm = self.comm_of(h.tid);
        let (tid, cpu) = (Some(h.tid), Some(h.cpu));
        let fill = |d: &mut super::findings::Detail| {
            d.tid = h.tid;
            d.comm = comm_str(&comm);
            d.pmu = pmu;
            d.cpu = Some(h.cpu);
            d.attr_type = attr_type;
            d.config = config;
        };
        let key = match cause {
            FallbackCause::CpuOutsidePmu => Key::new(FindingKind::WrongCpuType)
                .tid(h.tid)
                .sub(pmu.unwrap_or(u32::MAX)),
            FallbackCause::SysctlOff => Key::new(FindingKind::SysctlOff),
            FallbackCause::NoHardwareCounter if no_pmu => Key::new(FindingKind::NoHardwarePmu),
            FallbackCause::NoHardwareCounter => Key::new(FindingKind::SoftwareEvent).tid(h.tid),
            FallbackCause::NotRequested => Key::new(FindingKind::RdpmcNotRequested).tid(h.tid),
            _ => return,
        };
        let global = key.tid == 0;
        if let Some(f) = self.findings.hit(
            key,
            h.ts_ns,
            tid,
            if global { None } else { cpu },
            &self.recent,
            fill,
        ) {
            f.d.fallbacks += 1;
        }
    }
}

fn cause_tid(c: &ToggleCause) -> Option<u32> {
    match *c {
        ToggleCause::ContextSwitch { next_tid, .. } => Some(next_tid),
        ToggleCause::Open { tid }
        | ToggleCause::Ioctl { tid }
        | ToggleCause::Mmap { tid }
        | ToggleCause::Munmap { tid }
        | ToggleCause::Close { tid }
        | ToggleCause::Exec { tid } => Some(tid),
        ToggleCause::Sysctl | ToggleCause::Hook { .. } => None,
    }
}
