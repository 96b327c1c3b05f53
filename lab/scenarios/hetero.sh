# Two PMU types (cortex-a53 PMU on CPUs 0-1, cortex-a72 PMU on CPUs 2-3), user access on; the
# demo migrates across all CPUs: index-0 fallbacks outside the event's PMU, traps after a
# migration, silent reads of the other PMU's counters.
doctor
user_access 1
traced hetero pmuwatch demo --counts /tmp/hetero.counts --duration 3 --careless
