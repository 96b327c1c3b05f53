//! The trace file format (issue 5).
