//! The pure correlation engine (issue 4): no I/O, deterministic.
