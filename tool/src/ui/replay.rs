//! Replay driven by the file: a playback clock in trace time (play/pause, speed, seek) that
//! releases the events whose timestamps it has passed. Seeking back reopens the file and
//! re-feeds from the start (the engine is deterministic, so the state is the same as it was).

use std::time::Instant;

use common::Event;

use super::app::{ReplayCommand, ReplayStatus};

/// Events of a trace, in file order.
pub type EventIter = Box<dyn Iterator<Item = anyhow::Result<Event>> + Send>;
/// Opens the trace again from its start.
pub type Opener = Box<dyn FnMut() -> anyhow::Result<EventIter> + Send>;

/// Events released per step at most: a fast seek or a high speed catches up over several
/// steps instead of freezing the keys.
pub const MAX_PER_STEP: usize = 200_000;

/// What a step did besides releasing events.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Stepped {
    /// The caller must clear the engine and the view data before feeding `out` (seek back).
    pub reset: bool,
    /// The file ended or failed here (failure: the reason, for the notice line).
    pub ended: Option<Option<String>>,
}

pub struct Player {
    open: Opener,
    events: EventIter,
    /// The next event, already read but not yet due.
    next: Option<Event>,
    pub status: ReplayStatus,
    last_wall: Option<Instant>,
    started: bool,
    /// A seek back waits for the next step to reopen the file.
    reset_pending: bool,
    ended: bool,
}

impl Player {
    pub fn new(mut open: Opener, speed: f64) -> anyhow::Result<Player> {
        let events = open()?;
        Ok(Player {
            open,
            events,
            next: None,
            status: ReplayStatus {
                playing: true,
                speed,
                ..ReplayStatus::default()
            },
            last_wall: None,
            started: false,
            reset_pending: false,
            ended: false,
        })
    }

    pub fn command(&mut self, c: ReplayCommand) {
        match c {
            ReplayCommand::SetPlaying(p) => self.status.playing = p,
            ReplayCommand::SetSpeed(s) => self.status.speed = s,
            ReplayCommand::SeekBy(secs) => {
                let delta = secs.unsigned_abs().saturating_mul(1_000_000_000);
                if secs >= 0 {
                    self.status.pos_ns = self.status.pos_ns.saturating_add(delta);
                } else {
                    let to = self
                        .status
                        .pos_ns
                        .saturating_sub(delta)
                        .max(self.status.start_ns);
                    self.rewind(to);
                }
            }
            ReplayCommand::Restart => self.rewind(self.status.start_ns),
        }
    }

    fn rewind(&mut self, to_ns: u64) {
        self.status.pos_ns = to_ns;
        self.status.done = false;
        self.ended = false;
        self.next = None;
        self.reset_pending = true;
    }

    fn pull(&mut self) -> Result<Option<Event>, String> {
        if let Some(e) = self.next.take() {
            return Ok(Some(e));
        }
        match self.events.next() {
            None => Ok(None),
            Some(Ok(e)) => Ok(Some(e)),
            Some(Err(e)) => Err(format!("{e:#}")),
        }
    }

    /// Advances the clock to `now` and appends the events now due to `out`.
    pub fn step(&mut self, now: Instant, out: &mut Vec<Event>) -> Stepped {
        let mut st = Stepped::default();
        if self.reset_pending {
            self.reset_pending = false;
            st.reset = true;
            match (self.open)() {
                Ok(ev) => self.events = ev,
                Err(e) => {
                    self.ended = true;
                    self.status.done = true;
                    st.ended = Some(Some(format!("{e:#}")));
                    return st;
                }
            }
        }
        if !self.started {
            // The clock starts at the first event.
            match self.pull() {
                Ok(Some(e)) => {
                    self.status.start_ns = e.header().ts_ns;
                    self.status.pos_ns = self.status.pos_ns.max(self.status.start_ns);
                    self.next = Some(e);
                    self.started = true;
                }
                Ok(None) => {
                    self.ended = true;
                    self.status.done = true;
                    st.ended = Some(None);
                    return st;
                }
                Err(e) => {
                    self.ended = true;
                    self.status.done = true;
                    st.ended = Some(Some(e));
                    return st;
                }
            }
        }
        let wall = self.last_wall.replace(now);
        if self.ended {
            return st;
        }
        if self.status.playing
            && let Some(w) = wall
        {
            let dt = now.saturating_duration_since(w).as_nanos() as f64 * self.status.speed;
            self.status.pos_ns = self.status.pos_ns.saturating_add(dt as u64);
        }
        let mut n = 0;
        while n < MAX_PER_STEP {
            match self.pull() {
                Ok(Some(e)) if e.header().ts_ns <= self.status.pos_ns => {
                    out.push(e);
                    n += 1;
                }
                Ok(Some(e)) => {
                    self.next = Some(e);
                    break;
                }
                Ok(None) => {
                    self.finish(out);
                    st.ended = Some(None);
                    break;
                }
                Err(e) => {
                    self.finish(out);
                    st.ended = Some(Some(e));
                    break;
                }
            }
        }
        st
    }

    fn finish(&mut self, out: &[Event]) {
        self.ended = true;
        self.status.done = true;
        let last = out
            .last()
            .map(|e| e.header().ts_ns)
            .unwrap_or(self.status.pos_ns);
        self.status.end_ns = Some(self.status.end_ns.unwrap_or(0).max(last));
        self.status.pos_ns = self
            .status
            .pos_ns
            .min(self.status.end_ns.unwrap_or(u64::MAX));
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use common::{Migrate, decode::event, header_for};

    use super::*;

    fn trace(ts: &[u64]) -> Opener {
        let evs: Vec<Event> = ts
            .iter()
            .map(|&t| {
                event(Migrate {
                    h: header_for::<Migrate>(0, t, 1, 1),
                    ..Default::default()
                })
            })
            .collect();
        Box::new(move || Ok(Box::new(evs.clone().into_iter().map(Ok)) as EventIter))
    }

    fn ts(v: &[Event]) -> Vec<u64> {
        v.iter().map(|e| e.header().ts_ns / 1_000_000_000).collect()
    }

    #[test]
    fn plays_in_trace_time_pauses_speeds_up_and_seeks() {
        let s = 1_000_000_000;
        let mut p = Player::new(trace(&[10 * s, 11 * s, 12 * s, 20 * s, 21 * s]), 1.0).unwrap();
        let t0 = Instant::now();
        let mut out = Vec::new();
        p.step(t0, &mut out);
        assert_eq!(ts(&out), vec![10], "the first event is due at once");
        out.clear();
        p.step(t0 + Duration::from_millis(1500), &mut out);
        assert_eq!(ts(&out), vec![11]);
        out.clear();
        p.command(ReplayCommand::SetPlaying(false));
        p.step(t0 + Duration::from_secs(5), &mut out);
        assert!(out.is_empty(), "paused: nothing due");
        p.command(ReplayCommand::SetPlaying(true));
        p.command(ReplayCommand::SetSpeed(4.0));
        p.step(t0 + Duration::from_secs(6), &mut out);
        // 11.5 + 4 = 15.5
        assert_eq!(ts(&out), vec![12]);
        out.clear();
        p.command(ReplayCommand::SeekBy(-5));
        let st = p.step(t0 + Duration::from_secs(6), &mut out);
        assert!(st.reset, "seeking back re-feeds from the start");
        assert_eq!(ts(&out), vec![10]);
        out.clear();
        p.command(ReplayCommand::SeekBy(60));
        let st = p.step(t0 + Duration::from_secs(6), &mut out);
        assert_eq!(ts(&out), vec![11, 12, 20, 21]);
        assert_eq!(st.ended, Some(None));
        assert!(p.status.done);
        assert_eq!(p.status.end_ns, Some(21 * s));
        out.clear();
        p.command(ReplayCommand::Restart);
        let st = p.step(t0 + Duration::from_secs(6), &mut out);
        assert!(st.reset);
        assert_eq!(ts(&out), vec![10]);
        assert!(!p.status.done);
    }

    #[test]
    fn an_empty_or_failing_file_ends_with_a_reason() {
        let mut p = Player::new(trace(&[]), 1.0).unwrap();
        let mut out = Vec::new();
        assert_eq!(p.step(Instant::now(), &mut out).ended, Some(None));
        let bad: Opener = Box::new(|| {
            Ok(Box::new(std::iter::once(Err(anyhow::anyhow!("block 3 cut")))) as EventIter)
        });
        let mut p = Player::new(bad, 1.0).unwrap();
        assert_eq!(
            p.step(Instant::now(), &mut out).ended,
            Some(Some("block 3 cut".into()))
        );
    }
}
