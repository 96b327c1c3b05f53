# One PMU on every CPU, kernel.perf_user_access=1: every direct read works, nothing traps.
doctor --no-attach
user_access 1
traced pua1 pmuwatch demo --counts /tmp/pua1.counts --duration 2
