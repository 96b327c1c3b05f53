//! What the UI keeps of the stream itself, apart from the engine: the last events (the
//! timeline log), a per-CPU time strip, ingest counters and rates. Every update is O(1) per
//! event or per CPU, so ingestion keeps up whatever the view does.

use std::collections::{BTreeMap, VecDeque};

use common::{Access, Event};

/// Events kept for the timeline log.
pub const RECENT_CAP: usize = 4096;
/// CPUs tracked by the strip: ids beyond this (a damaged file) are ignored, not allocated.
pub const MAX_CPUS: usize = 4096;
/// Columns remembered per CPU in the strip.
pub const STRIP_COLS: usize = 256;
/// Samples of rate history kept (one per second).
pub const RATE_SAMPLES: usize = 120;

/// The last [`RECENT_CAP`] events, oldest first.
#[derive(Clone, Debug, Default)]
pub struct Recent {
    pub events: VecDeque<Event>,
}

impl Recent {
    pub fn push_batch(&mut self, batch: &[Event]) {
        let keep = &batch[batch.len().saturating_sub(RECENT_CAP)..];
        let overflow = (self.events.len() + keep.len()).saturating_sub(RECENT_CAP);
        self.events.drain(..overflow.min(self.events.len()));
        self.events.extend(keep.iter().copied());
    }

    pub fn clear(&mut self) {
        self.events.clear();
    }
}

/// What one strip column shows for one CPU. Ordered by how much it matters: a column keeps
/// the strongest mark seen in its time bucket.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord)]
pub enum Mark {
    /// Nothing known yet.
    #[default]
    None,
    Off,
    On,
    /// User access changed within the bucket.
    Toggled,
    /// A counter read trapped within the bucket.
    Trap,
}

impl Mark {
    /// Glyph that reads without colour.
    pub fn glyph(self) -> char {
        match self {
            Mark::None => ' ',
            Mark::Off => '.',
            Mark::On => '#',
            Mark::Toggled => '|',
            Mark::Trap => '!',
        }
    }
}

#[derive(Clone, Copy, Debug, Default)]
struct Cell {
    /// Bucket number this cell holds (ts / bucket).
    col: u64,
    mark: Mark,
    /// Access at the end of the bucket: carried into empty buckets after it.
    access: Access2,
}

/// `Access` with a default, for cells.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
enum Access2 {
    #[default]
    Unknown,
    Off,
    On,
}

impl From<Access> for Access2 {
    fn from(a: Access) -> Access2 {
        match a {
            Access::Off => Access2::Off,
            Access::On => Access2::On,
            Access::Unknown => Access2::Unknown,
        }
    }
}

impl Access2 {
    fn mark(self) -> Mark {
        match self {
            Access2::Unknown => Mark::None,
            Access2::Off => Mark::Off,
            Access2::On => Mark::On,
        }
    }
}

#[derive(Clone, Debug)]
struct CpuStrip {
    cells: Vec<Cell>,
    /// Last bucket written, and the access state after it.
    last_col: u64,
    last_access: Access2,
}

impl Default for CpuStrip {
    fn default() -> CpuStrip {
        CpuStrip {
            cells: vec![Cell::default(); STRIP_COLS],
            last_col: 0,
            last_access: Access2::Unknown,
        }
    }
}

impl CpuStrip {
    fn cell_mut(&mut self, col: u64) -> &mut Cell {
        let carried = if col >= self.last_col {
            self.last_access
        } else {
            Access2::Unknown
        };
        let c = &mut self.cells[(col % STRIP_COLS as u64) as usize];
        if c.col != col || c.mark == Mark::None {
            *c = Cell {
                col,
                mark: carried.mark(),
                access: carried,
            };
        }
        c
    }

    fn set_access(&mut self, col: u64, access: Access2, toggled: bool) {
        let c = self.cell_mut(col);
        c.access = access;
        let m = if toggled {
            Mark::Toggled
        } else {
            access.mark()
        };
        c.mark = c.mark.max(m);
        if col >= self.last_col {
            self.last_col = col;
            self.last_access = access;
        }
    }

    fn mark(&mut self, col: u64, m: Mark) {
        let c = self.cell_mut(col);
        c.mark = c.mark.max(m);
        if col > self.last_col {
            self.last_col = col;
        }
    }

    /// Mark of bucket `col`: its own, else the access carried from the last bucket before it.
    fn at(&self, col: u64) -> Mark {
        let c = self.cells[(col % STRIP_COLS as u64) as usize];
        if c.col == col && c.mark != Mark::None {
            return c.mark;
        }
        if col > self.last_col {
            return self.last_access.mark();
        }
        // An empty bucket inside the remembered window: carry from the nearest earlier cell.
        let lowest = col.saturating_sub(STRIP_COLS as u64 - 1);
        let mut k = col;
        while k > lowest {
            k -= 1;
            let p = self.cells[(k % STRIP_COLS as u64) as usize];
            if p.col == k && p.mark != Mark::None {
                return p.access.mark();
            }
        }
        Mark::None
    }
}

/// Per-CPU access over time, bucketed by event time.
#[derive(Clone, Debug)]
pub struct Strips {
    pub bucket_ns: u64,
    cpus: Vec<CpuStrip>,
    /// Latest event time seen.
    pub latest_ns: u64,
}

impl Default for Strips {
    fn default() -> Strips {
        Strips::new(250_000_000)
    }
}

impl Strips {
    pub fn new(bucket_ns: u64) -> Strips {
        Strips {
            bucket_ns: bucket_ns.max(1),
            cpus: Vec::new(),
            latest_ns: 0,
        }
    }

    fn strip(&mut self, cpu: u32) -> Option<&mut CpuStrip> {
        let i = cpu as usize;
        if i >= MAX_CPUS {
            return None;
        }
        if self.cpus.len() <= i {
            self.cpus.resize_with(i + 1, CpuStrip::default);
        }
        Some(&mut self.cpus[i])
    }

    pub fn observe(&mut self, e: &Event) {
        let h = e.header();
        let col = h.ts_ns / self.bucket_ns;
        self.latest_ns = self.latest_ns.max(h.ts_ns);
        match e {
            Event::SchedSwitch(s) => {
                let (now, before) = (Access::from_u8(s.access), Access::from_u8(s.prev_access));
                let toggled = now != before && now != Access::Unknown && before != Access::Unknown;
                if let Some(st) = self.strip(h.cpu) {
                    st.set_access(col, now.into(), toggled);
                }
            }
            Event::HookToggle(t) => {
                let now = Access::from_u8(t.access.min(2) as u8);
                if let Some(st) = self.strip(h.cpu) {
                    let toggled =
                        st.last_access != now.into() && st.last_access != Access2::Unknown;
                    st.set_access(col, now.into(), toggled);
                }
            }
            Event::Trap(_) => {
                if let Some(st) = self.strip(h.cpu) {
                    st.mark(col, Mark::Trap);
                }
            }
            _ => {}
        }
    }

    /// CPUs with a strip.
    pub fn cpus(&self) -> u32 {
        self.cpus.len() as u32
    }

    /// The last `n` buckets of `cpu` ending at the bucket of `end_ns`, oldest first.
    pub fn row(&self, cpu: u32, end_ns: u64, n: usize) -> impl Iterator<Item = Mark> + '_ {
        let end = end_ns / self.bucket_ns;
        let n = n.min(STRIP_COLS) as u64;
        let start = (end + 1).saturating_sub(n);
        let strip = self.cpus.get(cpu as usize);
        (start..=end).map(move |c| strip.map_or(Mark::None, |s| s.at(c)))
    }

    pub fn clear(&mut self) {
        *self = Strips::new(self.bucket_ns);
    }
}

/// Ingest counters kept by the UI itself, so the header is live even while the view is
/// paused, and drops are never hidden.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Counters {
    pub events: u64,
    pub lost: u64,
    pub lost_by_cpu: BTreeMap<u32, u64>,
    pub batches: u64,
    /// Time of the first event: the log shows times relative to it.
    pub first_ns: Option<u64>,
}

impl Counters {
    pub fn observe_batch(&mut self, batch: &[Event]) {
        self.batches += 1;
        if self.first_ns.is_none() {
            self.first_ns = batch.first().map(|e| e.header().ts_ns);
        }
        self.events += batch.len() as u64;
        for e in batch {
            if let Event::Lost(l) = e {
                self.lost = self.lost.saturating_add(l.count);
                *self.lost_by_cpu.entry(l.h.cpu).or_default() += l.count;
            }
        }
    }
}

/// Ingest rates per second, sampled on the session clock (wall time live, trace time in
/// replay). Per-CPU toggle rates come from the engine (event time).
#[derive(Clone, Debug, Default)]
pub struct Rates {
    last_ns: Option<u64>,
    last_events: u64,
    last_lost: u64,
    pub events_per_s: f64,
    pub lost_per_s: f64,
}

impl Rates {
    /// Takes a sample if a second has passed on `now_ns` since the last one.
    pub fn sample(&mut self, now_ns: u64, c: &Counters) {
        let Some(last) = self.last_ns else {
            self.last_ns = Some(now_ns);
            self.last_events = c.events;
            self.last_lost = c.lost;
            return;
        };
        let dt = now_ns.saturating_sub(last);
        if dt < 1_000_000_000 {
            return;
        }
        let secs = dt as f64 / 1e9;
        self.events_per_s = c.events.saturating_sub(self.last_events) as f64 / secs;
        self.lost_per_s = c.lost.saturating_sub(self.last_lost) as f64 / secs;
        self.last_events = c.events;
        self.last_lost = c.lost;
        self.last_ns = Some(now_ns);
    }

    pub fn reset(&mut self) {
        *self = Rates::default();
    }
}

#[cfg(test)]
mod tests {
    use common::{Lost, SchedSwitch, Trap, decode::event, header_for};

    use super::*;

    fn switch(cpu: u32, ts: u64, before: Access, after: Access) -> Event {
        event(SchedSwitch {
            h: header_for::<SchedSwitch>(cpu, ts, 1, 1),
            access: after as u8,
            prev_access: before as u8,
            ..Default::default()
        })
    }

    #[test]
    fn recent_keeps_only_the_newest_events() {
        let mut r = Recent::default();
        let evs: Vec<Event> = (0..RECENT_CAP as u64 + 10)
            .map(|i| switch(0, i, Access::Off, Access::Off))
            .collect();
        r.push_batch(&evs[..20]);
        r.push_batch(&evs[20..]);
        assert_eq!(r.events.len(), RECENT_CAP);
        assert_eq!(r.events.front().unwrap().header().ts_ns, 10);
        r.push_batch(&evs);
        assert_eq!(
            r.events.back().unwrap().header().ts_ns,
            RECENT_CAP as u64 + 9
        );
    }

    #[test]
    fn strip_marks_toggles_traps_and_carries_access_into_quiet_buckets() {
        let b = 100;
        let mut s = Strips::new(b);
        s.observe(&switch(1, 0, Access::Off, Access::On));
        s.observe(&switch(1, 150, Access::On, Access::On));
        s.observe(&switch(1, 420, Access::On, Access::Off));
        s.observe(&event(Trap {
            h: header_for::<Trap>(1, 610, 1, 1),
            ..Default::default()
        }));
        let row: String = s.row(1, 799, 8).map(Mark::glyph).collect();
        // bucket 0: toggled; 1: on; 2,3: carried on; 4: toggled off; 5: carried off; 6: trap;
        // 7: carried off.
        assert_eq!(row, "|###|.!.");
        // A CPU never seen and one far beyond the limit are blank, not a panic.
        assert_eq!(s.row(0, 799, 3).map(Mark::glyph).collect::<String>(), "   ");
        s.observe(&switch(u32::MAX, 5, Access::Off, Access::On));
        assert_eq!(s.cpus(), 2);
    }

    #[test]
    fn counters_sum_lost_records_per_cpu() {
        let mut c = Counters::default();
        let l = |cpu, n| {
            event(Lost {
                h: header_for::<Lost>(cpu, 0, 0, 0),
                count: n,
            })
        };
        c.observe_batch(&[l(0, 5), l(1, 2), l(0, 1)]);
        assert_eq!(c.events, 3);
        assert_eq!(c.lost, 8);
        assert_eq!(c.lost_by_cpu.get(&0), Some(&6));
    }

    #[test]
    fn rates_are_per_second_of_session_time() {
        let mut r = Rates::default();
        let mut c = Counters::default();
        r.sample(0, &c);
        c.events = 500;
        r.sample(500_000_000, &c);
        assert_eq!(r.events_per_s, 0.0, "no sample before a second has passed");
        r.sample(2_000_000_000, &c);
        assert_eq!(r.events_per_s, 250.0);
    }
}
