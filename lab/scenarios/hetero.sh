# Two PMU types (cortex-a53 PMU on CPUs 0-1, cortex-a72 PMU on CPUs 2-3), user access on; the
# demo migrates across all CPUs: index-0 fallbacks outside the event's PMU, traps after a
# migration, silent reads of the other PMU's counters. Each reader thread holds the events of
# one PMU type (thread 0 a53, thread 1 a72): a thread holding both types' events reads the
# same hardware counter (PMCCNTR_EL0) for its a72 event and, carelessly, for its a53 event on
# an a72 CPU, and nothing the probes see tells which page the reader consulted (lab/README.md).
doctor
user_access 1
traced hetero pmuwatch demo --counts /tmp/hetero.counts --duration 3 --careless --pmu-per-thread
