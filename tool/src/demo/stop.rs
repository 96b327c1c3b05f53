//! Ending the run: after `--duration`, or early on SIGINT/SIGTERM (a tracer stopping its
//! target, Ctrl-C) with the counts still printed. The signals are blocked in every thread and
//! taken synchronously by the main thread with sigtimedwait, so no handler and no race.

use std::{mem, ptr, time::Duration, time::Instant};

pub struct StopSignals {
    set: libc::sigset_t,
}

impl StopSignals {
    /// Blocks SIGINT and SIGTERM in the calling thread (and the threads it starts later). They
    /// stay blocked: the process is about to print and exit, and unblocking would let a second
    /// Ctrl-C kill it before it prints.
    pub fn block() -> StopSignals {
        // SAFETY: sigset operations on a local set; pthread_sigmask with a valid set.
        unsafe {
            let mut set: libc::sigset_t = mem::zeroed();
            libc::sigemptyset(&mut set);
            libc::sigaddset(&mut set, libc::SIGINT);
            libc::sigaddset(&mut set, libc::SIGTERM);
            libc::pthread_sigmask(libc::SIG_BLOCK, &set, ptr::null_mut());
            StopSignals { set }
        }
    }

    /// Waits up to `d`; returns `duration`, or the name of the signal that came first.
    pub fn wait(&self, d: Duration) -> &'static str {
        let deadline = Instant::now() + d;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return "duration";
            }
            let ts = libc::timespec {
                // At most a day per wait (the loop re-checks the deadline); fits any time_t.
                tv_sec: left.as_secs().min(86_400) as _,
                tv_nsec: left.subsec_nanos() as libc::c_long,
            };
            // SAFETY: valid set and timeout; siginfo not wanted.
            match unsafe { libc::sigtimedwait(&self.set, ptr::null_mut(), &ts) } {
                libc::SIGINT => return "SIGINT",
                libc::SIGTERM => return "SIGTERM",
                // Timeout (EAGAIN) or EINTR: the loop re-checks the deadline.
                _ => {}
            }
        }
    }
}
