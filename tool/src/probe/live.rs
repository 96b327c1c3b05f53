//! The live event source: kernel ring buffer -> decoded [`Event`]s, plus the records only user
//! space can make (drops per CPU, task names, gating settings). The recorder and the TUI read
//! it the same way a trace file is read.

use std::{
    collections::{HashMap as StdHashMap, HashSet},
    path::Path,
    process::ExitStatus,
    time::{Duration, Instant},
};

use aya::maps::{HashMap, MapData, PerCpuArray, RingBuf};
use common::{
    Event,
    decode::event,
    event::{Comm, Header, Kind, Lost, Record},
};

use super::{
    coverage::Coverage,
    loader::{self, LoadOptions, Probes},
    sysctl::Gates,
    target::{self, Target},
};
use crate::{
    sites::{Site, sample::PageSampler, watch::ReadWatch},
    sys::Root,
    trace::monotonic_now_ns,
};

/// Ring-buffer poll period. Records are submitted without wakeups (a wakeup per context
/// switch would feed back on itself), so the reader polls.
pub const POLL_MS: u64 = 15;
/// How often the gating settings are re-read.
const GATES_POLL: Duration = Duration::from_millis(250);
/// How often the targets' mappings are scanned again for libraries mapped later (dlopen).
const SITES_RESCAN: Duration = Duration::from_millis(500);

/// What to trace and for how long.
#[derive(Clone, Debug, Default)]
pub struct SourceOptions {
    /// Trace this process (its threads, and children it forks from now on).
    pub pid: Option<u32>,
    /// Spawn and trace this command (it is a target before it execs).
    pub command: Vec<String>,
    pub system_wide: bool,
    pub duration: Option<Duration>,
    /// Give the spawned command /dev/null for stdin/stdout/stderr (under a TUI).
    pub quiet_child: bool,
    /// Attach methods not to try (exercises the fallbacks; see `coverage()`).
    pub skip_methods: Vec<super::coverage::Method>,
    /// No uprobes on read sites: sample the targets' perf pages instead.
    pub no_read_probes: bool,
    /// Hold each process of the spawned command at exec until its image is probed (see
    /// `cli::TargetArgs::hold_exec`); ignored for `pid`, system-wide and `no_read_probes`.
    pub hold_exec: bool,
}

impl SourceOptions {
    pub fn from_target(t: &crate::cli::TargetArgs) -> SourceOptions {
        SourceOptions {
            pid: t.pid,
            command: t.command.clone(),
            system_wide: t.system_wide,
            duration: t
                .duration
                .filter(|d| d.is_finite() && *d > 0.0)
                .map(Duration::from_secs_f64),
            quiet_child: false,
            skip_methods: Vec::new(),
            no_read_probes: t.no_read_probes,
            hold_exec: t.hold_exec,
        }
    }
}

/// Why a session ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum End {
    /// The traced process exited (`exit_status` has the status of a spawned command).
    TargetExited,
    DurationOver,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum State {
    Running,
    /// End seen; one more poll collects records still in flight on other CPUs.
    Draining,
    Done,
}

/// Counters about the source itself.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SourceStats {
    pub records: u64,
    /// Ring-buffer items that did not decode (counted, skipped).
    pub undecodable: u64,
    /// Records the kernel dropped (ring buffer full), all CPUs.
    pub lost: u64,
}

pub struct LiveSource {
    probes: Probes,
    ring: RingBuf<MapData>,
    drops: PerCpuArray<MapData, u64>,
    last_drops: Vec<u64>,
    target: Target,
    started: Instant,
    deadline: Option<Instant>,
    tick: Option<tokio::time::Interval>,
    gates: Gates,
    gates_polled: Instant,
    sites_rescanned: Instant,
    /// Thread group ids known to be targets (mirror of the kernel set, for Comm records).
    targets: HashSet<u32>,
    /// Tasks whose name has been emitted, with that name.
    named: StdHashMap<(u32, u32), [u8; 16]>,
    state: State,
    end: Option<End>,
    stats: SourceStats,
    /// Records made before the first `next_batch` (start-up Sysctl and Comm).
    pending: Vec<Event>,
    /// Reused decode buffer.
    scratch: Vec<Event>,
    /// Uprobes on the targets' read sites.
    reads: ReadWatch,
    /// `--no-read-probes`: perf page sampling instead.
    sampler: Option<PageSampler>,
    /// Targets stop at exec (SIGSTOP from the exec probe) until their image is probed.
    hold_exec: bool,
}

impl Drop for LiveSource {
    /// Never leaves a target stopped: no more holds, and every target continues.
    fn drop(&mut self) {
        if self.hold_exec {
            let _ = loader::set_hold_exec(&mut self.probes.ebpf, false);
            self.resume_all();
        }
    }
}

/// SIGCONT to a target held at exec; a process already gone or running is not harmed.
fn resume(pid: u32) {
    if let Ok(pid) = libc::pid_t::try_from(pid)
        && pid > 0
    {
        // SAFETY: kill has no memory preconditions.
        unsafe { libc::kill(pid, libc::SIGCONT) };
    }
}

fn user_header<R: Record>(cpu: u32, pid: u32, tid: u32) -> Header {
    common::event::header_for::<R>(cpu, monotonic_now_ns(), pid, tid)
}

impl LiveSource {
    /// Loads and attaches the probes, then starts the target. Errors are one line with a fix.
    pub fn start(opts: &SourceOptions) -> anyhow::Result<LiveSource> {
        let modes = [
            opts.pid.is_some(),
            !opts.command.is_empty(),
            opts.system_wide,
        ];
        match modes.iter().filter(|m| **m).count() {
            0 => {
                return Err(crate::error::fix(
                    "nothing to trace",
                    "give `-- COMMAND`, `-p PID` or `--system-wide`",
                ));
            }
            1 => {}
            _ => {
                return Err(crate::error::fix(
                    "more than one target given",
                    "use only one of `-- COMMAND`, `-p PID`, `--system-wide`",
                ));
            }
        }
        // Check the pid before the (slower) load, for a quick clear error.
        if let Some(pid) = opts.pid
            && (pid == 0 || !std::path::Path::new(&format!("/proc/{pid}")).exists())
        {
            return Err(crate::error::fix(
                format!("no process with pid {pid}"),
                "check `ps`",
            ));
        }
        let mut probes = loader::load(LoadOptions {
            system_wide: opts.system_wide,
            skip_methods: opts.skip_methods.clone(),
        })?;
        let take = |p: &mut Probes, name: &str| {
            p.ebpf
                .take_map(name)
                .ok_or_else(|| anyhow::anyhow!("BPF object has no {name} map"))
        };
        let ring = RingBuf::try_from(take(&mut probes, "EVENTS")?)?;
        let drops = PerCpuArray::try_from(take(&mut probes, "DROPS")?)?;
        let mut targets_map: HashMap<MapData, u32, u8> =
            HashMap::try_from(take(&mut probes, "TARGETS")?)?;
        let gates = Gates::read(&Root::new("/"));
        // Read sites of a spawned command are probed before it runs; those of libraries it
        // maps later, and of `-p`/system-wide readers, when their first perf syscall is seen.
        let mut reads = ReadWatch::default();
        if !opts.no_read_probes {
            reads.load(&mut probes.ebpf);
            if let Some(exe) = opts
                .command
                .first()
                .and_then(|c| crate::sites::watch::resolve_command(c))
            {
                reads.add_file(&mut probes.ebpf, &exe);
            }
            if let Some(pid) = opts.pid {
                reads.add_pid(&mut probes.ebpf, pid);
            }
            reads.report(&mut probes.coverage);
        } else {
            probes.coverage.push(
                "direct reads",
                "perf mmap pages (pidfd_getfd + own read-only mapping)",
                super::coverage::Method::Sampling,
                super::coverage::Status::Active,
            );
        }

        // Asked for: a spawned command's processes stop at exec until their new image is
        // probed (see `resume_execs`), so a reader a shell starts is seen from its first read.
        // Not by default: it delays every exec, which changes how a pipeline's processes start
        // against each other. Never for `-p` or system-wide, where pmuwatch does not own the
        // processes. Without it, a new image is probed as soon as its exec is seen, and reads
        // it makes before that are not seen. If pmuwatch is killed (SIGKILL) while holding a
        // process, that process stays stopped until it gets SIGCONT.
        let hold_exec = opts.hold_exec
            && !opts.no_read_probes
            && opts.pid.is_none()
            && !opts.command.is_empty();
        if hold_exec {
            loader::set_hold_exec(&mut probes.ebpf, true)?;
        }
        let target = if let Some(pid) = opts.pid {
            target::attach_pid(pid, &mut targets_map)?
        } else if !opts.command.is_empty() {
            target::spawn(&opts.command, &targets_map, opts.quiet_child)?
        } else {
            Target::SystemWide
        };
        let started = Instant::now();
        let mut src = LiveSource {
            probes,
            ring,
            drops,
            last_drops: Vec::new(),
            targets: target.pid().into_iter().collect(),
            target,
            started,
            deadline: opts.duration.map(|d| started + d),
            tick: None,
            gates,
            gates_polled: started,
            sites_rescanned: started,
            named: StdHashMap::new(),
            state: State::Running,
            end: None,
            stats: SourceStats::default(),
            pending: Vec::new(),
            scratch: Vec::new(),
            reads,
            sampler: opts.no_read_probes.then(PageSampler::default),
            hold_exec,
        };
        src.pending.push(event(
            src.gates.record(user_header::<common::Sysctl>(0, 0, 0)),
        ));
        if let Target::Pid { pid, .. } = src.target {
            src.name_all_threads(pid);
        }
        Ok(src)
    }

    /// Which signal comes from which attach method.
    pub fn coverage(&self) -> &Coverage {
        &self.probes.coverage
    }

    pub fn probes(&self) -> &Probes {
        &self.probes
    }

    /// Read sites found so far (ids match `DirectRead::site`).
    pub fn sites(&self) -> &[Site] {
        self.reads.sites()
    }

    pub fn stats(&self) -> SourceStats {
        self.stats
    }

    /// The root target's pid (the spawned command's, or `-p`'s); None system-wide.
    pub fn target_pid(&self) -> Option<u32> {
        self.target.pid()
    }

    /// Exit status of a spawned command, once it has exited.
    pub fn exit_status(&self) -> Option<ExitStatus> {
        self.target.exit_status()
    }

    /// Why the session ended, once it has.
    pub fn end(&self) -> Option<End> {
        self.end
    }

    pub fn elapsed(&self) -> Duration {
        self.started.elapsed()
    }

    /// Clears `out` and fills it with the next records, waiting for the next poll period
    /// when nothing is there. `Ok(false)` once the target is gone or the duration is over and
    /// everything has been drained (then `out` is empty).
    pub async fn next_batch(&mut self, out: &mut Vec<Event>) -> anyhow::Result<bool> {
        out.clear();
        out.append(&mut self.pending);
        if !out.is_empty() {
            return Ok(true);
        }
        loop {
            if self.state == State::Done {
                return Ok(false);
            }
            self.tick
                .get_or_insert_with(|| {
                    let mut i = tokio::time::interval(Duration::from_millis(POLL_MS));
                    i.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
                    i
                })
                .tick()
                .await;
            self.poll(out)?;
            self.advance();
            if !out.is_empty() {
                return Ok(true);
            }
        }
    }

    /// Ends the session now (e.g. on Ctrl-C): the next calls drain and then return false.
    pub fn stop(&mut self) {
        if self.state == State::Running {
            self.state = State::Draining;
            self.end.get_or_insert(End::DurationOver);
            self.target.stop();
        }
    }

    fn advance(&mut self) {
        match self.state {
            State::Running => {
                if self.target.exited() {
                    self.end = Some(End::TargetExited);
                    self.state = State::Draining;
                } else if self.deadline.is_some_and(|d| Instant::now() >= d) {
                    self.end = Some(End::DurationOver);
                    self.target.stop();
                    self.state = State::Draining;
                }
            }
            State::Draining => self.state = State::Done,
            State::Done => {}
        }
    }

    /// One poll: ring buffer, drop counters, gating settings.
    fn poll(&mut self, out: &mut Vec<Event>) -> anyhow::Result<()> {
        let mut fresh = std::mem::take(&mut self.scratch);
        while let Some(item) = self.ring.next() {
            match common::decode(&item) {
                Ok(ev) => fresh.push(ev),
                Err(_) => self.stats.undecodable += 1,
            }
        }
        self.stats.records += fresh.len() as u64;
        if let Some(s) = &mut self.sampler {
            s.observe(&fresh);
        } else {
            let before = self.reads.sites().len();
            self.reads.observe(&mut self.probes.ebpf, &fresh);
            if self.sites_rescanned.elapsed() >= SITES_RESCAN {
                self.sites_rescanned = Instant::now();
                self.reads.rescan(&mut self.probes.ebpf);
            }
            if self.reads.sites().len() != before {
                self.reads.report(&mut self.probes.coverage);
                self.note_late_sites(before);
            }
        }
        self.resume_execs(&fresh);
        for ev in fresh.drain(..) {
            // A task's name record goes before its first record.
            self.observe(&ev, out);
            out.push(ev);
        }
        self.scratch = fresh;
        if let Some(s) = &mut self.sampler {
            // SAFETY: no preconditions; -1 (unknown) becomes u32::MAX.
            let cpu = unsafe { libc::sched_getcpu() } as u32;
            s.sample(monotonic_now_ns(), cpu, out);
        }
        self.poll_drops(out)?;
        if self.gates_polled.elapsed() >= GATES_POLL {
            self.gates_polled = Instant::now();
            let g = Gates::read(&Root::new("/"));
            if g != self.gates {
                self.gates = g;
                loader::set_gates(&mut self.probes.ebpf, &g)?;
                out.push(event(g.record(user_header::<common::Sysctl>(0, 0, 0))));
            }
        }
        Ok(())
    }

    /// Says which read sites were probed only once their process was running: the direct
    /// reads made there before are not seen (counted nowhere), so a person must know.
    fn note_late_sites(&mut self, first: usize) {
        if self.hold_exec {
            return;
        }
        let at = self.started.elapsed().as_secs_f64();
        let mut files: Vec<&Path> = self.reads.sites()[first..]
            .iter()
            .map(|s| s.file.as_path())
            .collect();
        files.dedup();
        let hint = if matches!(self.target, Target::Child { .. }) {
            "; record with --hold-exec to hold the command's new programs until they are probed"
        } else {
            ""
        };
        for f in files {
            self.probes.notes.push(format!(
                "read sites in {} were probed {at:.1} s into the run, while their process ran: direct reads there before that are not seen{hint}",
                f.display()
            ));
        }
    }

    /// Lets processes held at exec go on, now that `observe` has probed their new image.
    fn resume_execs(&self, fresh: &[Event]) {
        if !self.hold_exec {
            return;
        }
        for e in fresh {
            if let Event::Exec(x) = e {
                resume(x.h.pid);
            }
        }
    }

    /// Every target continues (an exec record may have been dropped with its process held).
    fn resume_all(&self) {
        for &pid in &self.targets {
            resume(pid);
        }
    }

    fn poll_drops(&mut self, out: &mut Vec<Event>) -> anyhow::Result<()> {
        let values = self.drops.get(&0, 0)?;
        if self.last_drops.len() < values.len() {
            self.last_drops.resize(values.len(), 0);
        }
        let mut dropped = false;
        for (cpu, (now, last)) in values.iter().zip(self.last_drops.iter_mut()).enumerate() {
            if *now > *last {
                let count = *now - *last;
                *last = *now;
                self.stats.lost += count;
                dropped = true;
                out.push(event(Lost {
                    h: user_header::<Lost>(cpu as u32, 0, 0),
                    count,
                }));
            }
        }
        if dropped && self.hold_exec {
            // An exec record may be among the drops, its process still held.
            self.resume_all();
        }
        Ok(())
    }

    /// Keeps the target mirror and task names up to date; pushes `Comm` records to `out`.
    fn observe(&mut self, ev: &Event, out: &mut Vec<Event>) {
        let h = *ev.header();
        match ev {
            Event::Fork(f) => {
                self.targets.insert(f.child_pid);
            }
            Event::Exec(e) => {
                self.set_name(h.cpu, h.ts_ns, h.pid, h.tid, e.comm, out);
                return;
            }
            _ => {}
        }
        if ev.kind() == Kind::SchedSwitch {
            if let Event::SchedSwitch(s) = ev
                && s.involves_target != 0
                && self.is_target(s.prev_pid)
            {
                self.name_task(h.cpu, h.ts_ns, s.prev_pid, s.prev_tid, out);
            }
            if h.pid != 0 && self.is_target(h.pid) {
                self.name_task(h.cpu, h.ts_ns, h.pid, h.tid, out);
            }
            return;
        }
        if h.pid != 0 && matches!(ev.kind(), Kind::Lost | Kind::Comm | Kind::Sysctl) {
            return;
        }
        if h.pid != 0 {
            self.name_task(h.cpu, h.ts_ns, h.pid, h.tid, out);
        }
    }

    fn is_target(&self, tgid: u32) -> bool {
        tgid != 0 && (matches!(self.target, Target::SystemWide) || self.targets.contains(&tgid))
    }

    /// Names a task from /proc; the name record carries the time of the record it goes
    /// before, so evidence and timelines stay in time order.
    fn name_task(&mut self, cpu: u32, ts_ns: u64, pid: u32, tid: u32, out: &mut Vec<Event>) {
        if self.named.contains_key(&(pid, tid)) {
            return;
        }
        let comm = std::fs::read_to_string(format!("/proc/{pid}/task/{tid}/comm"))
            .map(|s| comm_bytes(s.trim_end_matches('\n')))
            .unwrap_or([0; 16]);
        self.set_name(cpu, ts_ns, pid, tid, comm, out);
    }

    fn set_name(
        &mut self,
        cpu: u32,
        ts_ns: u64,
        pid: u32,
        tid: u32,
        comm: [u8; 16],
        out: &mut Vec<Event>,
    ) {
        if self.named.get(&(pid, tid)) == Some(&comm) {
            return;
        }
        self.named.insert((pid, tid), comm);
        if comm == [0; 16] {
            return;
        }
        out.push(event(Comm {
            h: common::event::header_for::<Comm>(cpu, ts_ns, pid, tid),
            comm,
        }));
    }

    fn name_all_threads(&mut self, pid: u32) {
        let Ok(dir) = std::fs::read_dir(format!("/proc/{pid}/task")) else {
            return;
        };
        let mut out = std::mem::take(&mut self.pending);
        for e in dir.flatten() {
            if let Some(tid) = e.file_name().to_str().and_then(|s| s.parse().ok()) {
                self.name_task(0, monotonic_now_ns(), pid, tid, &mut out);
            }
        }
        self.pending = out;
    }
}

/// A task name as the kernel stores it: at most 15 bytes and a NUL.
pub fn comm_bytes(s: &str) -> [u8; 16] {
    let mut c = [0u8; 16];
    for (d, b) in c.iter_mut().zip(s.bytes().take(15)) {
        *d = b;
    }
    c
}
