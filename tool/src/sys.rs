//! System facts: CPUs, PMUs, sysctls, mounts (issue 2).
