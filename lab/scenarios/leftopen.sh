# User access left on after the last event closes: a process that never opened an event reads
# PMCCNTR_EL0 with no trap on the CPUs where the demo's events last ran.
doctor --no-attach
user_access 1
mrs_all before
traced leftopen pmuwatch demo --counts /tmp/leftopen.counts --duration 2
mrs_all after
