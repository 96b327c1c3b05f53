//! Read-site discovery in the target's executable mappings (issue 4).
