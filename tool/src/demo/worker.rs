//! One reader thread: opens its own events (task-bound events count only the thread that
//! opened them), then loops until told to stop: move to the next CPU now and then, toggle the
//! events with ioctl, read every event through its page (careless every other round when
//! asked), sleep a little. Pacing keeps the syscall and trap rate to what a tracer can follow
//! without drops, so the tool's counts can be compared with ours exactly.

use std::{
    io,
    sync::{
        Arc,
        atomic::{AtomicBool, Ordering},
        mpsc,
    },
    time::Duration,
};

use super::{
    counts::{Counts, EventInfo, ThreadReport},
    page::{Mode, Outcome, pmuwatch_demo_read_self},
    perf::{self, Event, Ioctl},
    pmus::Plan,
};

/// Rounds between two affinity moves.
const MIGRATE_EVERY: u64 = 20;
/// Every TOGGLE_PERIOD rounds the events are disabled for DISABLED_ROUNDS rounds (reads then
/// see index 0), and reset every RESET_EVERY toggles.
const TOGGLE_PERIOD: u64 = 50;
const DISABLED_ROUNDS: u64 = 3;
const RESET_EVERY: u64 = 10;

pub struct Worker {
    pub thread: usize,
    pub plan: Arc<Plan>,
    /// CPUs to move across, round robin, starting at `thread`.
    pub cpus: Arc<Vec<usize>>,
    pub careless: bool,
    pub interval: Duration,
    pub stop: Arc<AtomicBool>,
    /// Sends (events opened, first open error) once the open phase is over.
    pub ready: mpsc::Sender<(usize, Option<String>)>,
}

impl Worker {
    pub fn run(self) -> ThreadReport {
        let mut counts = Counts::default();
        // SAFETY: gettid has no preconditions.
        let tid = unsafe { libc::gettid() };
        let (mut events, first_error) = open_events(&self.plan, &mut counts);
        let _ = self.ready.send((events.len(), first_error));
        if !events.is_empty() {
            for ev in &events {
                ev.ioctl(Ioctl::Reset, &mut counts);
                ev.ioctl(Ioctl::Enable, &mut counts);
            }
            self.read_loop(&mut events, &mut counts);
        }
        let infos: Vec<EventInfo> = events.iter().map(|e| e.info.clone()).collect();
        for ev in events {
            ev.close(&mut counts);
        }
        ThreadReport {
            thread: self.thread,
            tid,
            events: infos,
            counts,
        }
    }

    fn read_loop(&self, events: &mut [Event], counts: &mut Counts) {
        let mut last_cpu = current_cpu();
        let mut next_slot = self.thread;
        let mut round: u64 = 0;
        while !self.stop.load(Ordering::Relaxed) {
            if self.cpus.len() > 1 && round.is_multiple_of(MIGRATE_EVERY) {
                let cpu = self.cpus[next_slot % self.cpus.len()];
                next_slot += 1;
                match pin_to(cpu) {
                    Ok(()) => counts.affinity_moves += 1,
                    Err(_) => counts.affinity_errors += 1,
                }
            }
            let cpu = current_cpu();
            if cpu.is_some() && last_cpu.is_some() && cpu != last_cpu {
                counts.migrations += 1;
            }
            last_cpu = cpu;
            match round % TOGGLE_PERIOD {
                0 if round > 0 => {
                    for ev in events.iter() {
                        ev.ioctl(Ioctl::Disable, counts);
                    }
                }
                DISABLED_ROUNDS if round > TOGGLE_PERIOD => {
                    let reset = (round / TOGGLE_PERIOD).is_multiple_of(RESET_EVERY);
                    for ev in events.iter() {
                        if reset {
                            ev.ioctl(Ioctl::Reset, counts);
                        }
                        ev.ioctl(Ioctl::Enable, counts);
                    }
                }
                _ => {}
            }
            let careless = self.careless && round % 2 == 1;
            for ev in events.iter_mut() {
                read_event(ev, careless, counts);
            }
            round += 1;
            std::thread::sleep(self.interval);
        }
    }
}

/// Tries the hardware events; if none opens, the software ones. Every attempt is counted.
fn open_events(plan: &Plan, counts: &mut Counts) -> (Vec<Event>, Option<String>) {
    let mut first_error = None;
    for set in [&plan.hardware, &plan.software] {
        let mut events = Vec::new();
        for spec in set {
            match perf::open(spec, counts) {
                Ok(ev) => events.push(ev),
                Err(e) => {
                    first_error.get_or_insert_with(|| format!("{}: {e}", spec.name));
                }
            }
        }
        if !events.is_empty() {
            return (events, first_error);
        }
    }
    (Vec::new(), first_error)
}

/// One self-read of `ev`, counted by outcome.
fn read_event(ev: &mut Event, careless: bool, counts: &mut Counts) {
    let mode = if careless {
        Mode::Careless {
            stale_index: ev.last_index,
        }
    } else {
        Mode::Careful
    };
    counts.reads += 1;
    let r = pmuwatch_demo_read_self(ev.page(), mode);
    counts.seq_retries += u64::from(r.retries);
    match r.outcome {
        Outcome::Direct { index, .. } => {
            counts.reads_ok += 1;
            ev.last_index = index;
        }
        Outcome::Fallback(why) => {
            match why {
                super::page::Fallback::Index0 => counts.index0_fallbacks += 1,
                super::page::Fallback::NoCap => counts.nocap_fallbacks += 1,
            }
            ev.read_syscall(counts);
        }
        Outcome::CarelessSilent { .. } => {
            counts.careless_reads += 1;
            counts.careless_silent += 1;
        }
        Outcome::Trapped { trap, careless, .. } => {
            if careless {
                counts.careless_reads += 1;
            }
            if trap.signal == 0 {
                // No instruction for that counter number: nothing ran, nothing trapped.
                counts.no_instruction += 1;
            } else {
                counts.trap(trap.signal);
                if careless {
                    counts.careless_traps += 1;
                }
            }
        }
        Outcome::GaveUp => counts.gave_up += 1,
    }
}

fn current_cpu() -> Option<usize> {
    // SAFETY: sched_getcpu has no preconditions.
    usize::try_from(unsafe { libc::sched_getcpu() }).ok()
}

/// Restricts the calling thread to `cpu`; the kernel moves it there before returning.
fn pin_to(cpu: usize) -> io::Result<()> {
    // SAFETY: a zeroed cpu_set_t is an empty set; CPU_SET bounds-checks the index.
    unsafe {
        let mut set: libc::cpu_set_t = std::mem::zeroed();
        libc::CPU_SET(cpu, &mut set);
        if libc::sched_setaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &set) != 0 {
            return Err(io::Error::last_os_error());
        }
    }
    Ok(())
}

/// The CPUs this process may run on (its affinity at start), ascending.
pub fn allowed_cpus() -> Vec<usize> {
    // SAFETY: a zeroed cpu_set_t is valid; sched_getaffinity fills it.
    unsafe {
        let mut set: libc::cpu_set_t = std::mem::zeroed();
        if libc::sched_getaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &mut set) != 0 {
            return Vec::new();
        }
        (0..libc::CPU_SETSIZE as usize)
            .filter(|&c| libc::CPU_ISSET(c, &set))
            .collect()
    }
}
