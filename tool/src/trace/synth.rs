//! A deterministic synthetic event stream shaped like a recording of the demo workload: a
//! process whose threads open user-readable events, read them directly, migrate across CPUs,
//! toggle access at context switches, fall back to `read(2)`, trap, and a ring buffer that
//! sometimes drops. For tests, fuzz seeds and benchmarks of the file format and the views
//! (no hardware PMU is needed to produce it).

use common::{
    Access, AccessSource, Comm, DirectRead, Event, Exit, Lost, Migrate, PerfIoctl, PerfOpen,
    PerfRead, ReadReg, SchedSwitch, Trap, decode::event, header_for,
};

/// Knobs of the stream.
#[derive(Clone, Copy, Debug)]
pub struct Shape {
    pub cpus: u32,
    pub threads: u32,
    pub pid: u32,
    /// Nanoseconds between consecutive events.
    pub step_ns: u64,
    pub start_ns: u64,
    pub seed: u64,
}

impl Default for Shape {
    fn default() -> Shape {
        Shape {
            cpus: 4,
            threads: 3,
            pid: 4242,
            step_ns: 10_000,
            start_ns: 1_000_000_000,
            seed: 1,
        }
    }
}

/// An endless iterator of events; take as many as needed.
pub struct Synth {
    shape: Shape,
    rng: u64,
    ts: u64,
    /// CPU each thread runs on.
    cpu_of: Vec<u32>,
    /// Access state per CPU.
    access: Vec<Access>,
    /// Thread running on each CPU (0 = idle).
    running: Vec<u32>,
    /// Events queued by the last step (a step can make several).
    queue: std::collections::VecDeque<Event>,
    started: bool,
}

impl Synth {
    pub fn new(shape: Shape) -> Synth {
        let cpus = shape.cpus.max(1);
        let threads = shape.threads.max(1);
        Synth {
            shape: Shape {
                cpus,
                threads,
                ..shape
            },
            rng: shape.seed | 1,
            ts: shape.start_ns,
            cpu_of: (0..threads).map(|t| t % cpus).collect(),
            access: vec![Access::Off; cpus as usize],
            running: vec![0; cpus as usize],
            queue: Default::default(),
            started: false,
        }
    }

    fn rand(&mut self) -> u64 {
        // xorshift64*: fast, deterministic, good enough for shaping a stream.
        self.rng ^= self.rng >> 12;
        self.rng ^= self.rng << 25;
        self.rng ^= self.rng >> 27;
        self.rng.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn tid(&self, t: u32) -> u32 {
        self.shape.pid + t
    }

    fn start(&mut self) {
        let pid = self.shape.pid;
        for t in 0..self.shape.threads {
            let tid = self.tid(t);
            let cpu = self.cpu_of[t as usize];
            let mut c = Comm {
                h: header_for::<Comm>(cpu, self.ts, pid, tid),
                ..Comm::default()
            };
            let name = format!("synth-{t}");
            c.comm[..name.len()].copy_from_slice(name.as_bytes());
            self.queue.push_back(event(c));
            self.queue.push_back(event(PerfOpen {
                h: header_for::<PerfOpen>(cpu, self.ts, pid, tid),
                attr_type: 1,
                attr_size: 136,
                config: 0,
                config1: 0b10,
                target_pid: 0,
                cpu_arg: -1,
                group_fd: -1,
                ret: 3,
                ..PerfOpen::default()
            }));
        }
    }

    fn step(&mut self) {
        self.ts += self.shape.step_ns;
        let r = self.rand();
        let t = (r % u64::from(self.shape.threads)) as u32;
        let tid = self.tid(t);
        let pid = self.shape.pid;
        let cpu = self.cpu_of[t as usize];
        let ts = self.ts;
        let e = match (r >> 8) % 100 {
            0..=39 => {
                // Direct read on the thread's CPU; index 0 on odd CPUs (the "other" PMU type).
                event(DirectRead {
                    h: header_for::<DirectRead>(cpu, ts, pid, tid),
                    ip: 0x40_1000 + (r >> 40) % 4 * 4,
                    site: ((r >> 40) % 4) as u32,
                    reg: ReadReg::X86Rdpmc as u32,
                    counter: 0,
                    _pad: 0,
                })
            }
            40..=69 => {
                let prev = self.running[cpu as usize];
                let on = !(r >> 20).is_multiple_of(3);
                let access = if on { Access::On } else { Access::Off };
                let prev_access = self.access[cpu as usize];
                self.access[cpu as usize] = access;
                self.running[cpu as usize] = tid;
                let mut s = SchedSwitch {
                    h: header_for::<SchedSwitch>(cpu, ts, pid, tid),
                    prev_pid: if prev == 0 { 0 } else { pid },
                    prev_tid: prev,
                    prev_state: (r >> 30) % 2,
                    next_nr_user: u32::from(on),
                    next_rdpmc_allowed: u32::from(on),
                    access: access as u8,
                    prev_access: prev_access as u8,
                    source: AccessSource::Model as u8,
                    involves_target: 1,
                    ..SchedSwitch::default()
                };
                let name = format!("synth-{t}");
                s.next_comm[..name.len()].copy_from_slice(name.as_bytes());
                event(s)
            }
            70..=79 => {
                let dest = ((r >> 24) % u64::from(self.shape.cpus)) as u32;
                self.cpu_of[t as usize] = dest;
                event(Migrate {
                    h: header_for::<Migrate>(cpu, ts, pid, tid),
                    orig_cpu: cpu,
                    dest_cpu: dest,
                })
            }
            80..=89 => event(PerfRead {
                h: header_for::<PerfRead>(cpu, ts, pid, tid),
                fd: 3,
                _pad: 0,
                count: 8,
                ret: 8,
            }),
            90..=93 => {
                let mut insn = [0u8; 16];
                insn[..2].copy_from_slice(&[0x0f, 0x33]);
                event(Trap {
                    h: header_for::<Trap>(cpu, ts, pid, tid),
                    signo: 11,
                    si_code: 0x80,
                    ip: 0x40_1000,
                    insn,
                    insn_len: 2,
                    result: 1,
                })
            }
            94..=97 => event(PerfIoctl {
                h: header_for::<PerfIoctl>(cpu, ts, pid, tid),
                fd: 3,
                cmd: if r & 1 == 0 { 0x2400 } else { 0x2401 },
                arg: 0,
                ret: 0,
            }),
            _ => event(Lost {
                h: header_for::<Lost>(cpu, ts, 0, 0),
                count: 1 + (r >> 50) % 100,
            }),
        };
        self.queue.push_back(e);
    }

    /// The records that end the stream: every thread exits.
    pub fn exits(&self) -> Vec<Event> {
        (0..self.shape.threads)
            .map(|t| {
                event(Exit {
                    h: header_for::<Exit>(
                        self.cpu_of[t as usize],
                        self.ts + 1,
                        self.shape.pid,
                        self.tid(t),
                    ),
                    group_dead: u32::from(t + 1 == self.shape.threads),
                    _pad: 0,
                })
            })
            .collect()
    }
}

impl Iterator for Synth {
    type Item = Event;

    fn next(&mut self) -> Option<Event> {
        if !self.started {
            self.started = true;
            self.start();
        }
        if self.queue.is_empty() {
            self.step();
        }
        self.queue.pop_front()
    }
}

/// `n` events of the default shape, with `seed`.
pub fn events(n: usize, seed: u64) -> Vec<Event> {
    Synth::new(Shape {
        seed,
        ..Shape::default()
    })
    .take(n)
    .collect()
}
