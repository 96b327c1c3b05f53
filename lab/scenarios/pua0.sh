# One PMU, kernel.perf_user_access=0 (the default): events open with index 0, so careful reads
# fall back to read(2) and careless ones trap (SIGILL on mrs PMCCNTR_EL0 / PMEVCNTR<n>_EL0).
doctor --no-attach
user_access 0
traced pua0 pmuwatch demo --counts /tmp/pua0.counts --duration 2 --careless
