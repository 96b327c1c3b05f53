# User access left on after the last event closes: a process that never opened an event reads
# PMCCNTR_EL0 with no trap on the CPUs where the demo's events last ran. The reads after the
# demo are part of the traced command, so the tool sees them too.
doctor --no-attach
user_access 1
mrs-all.sh before
traced leftopen sh -c 'pmuwatch demo --counts /tmp/leftopen.counts --duration 2 && mrs-all.sh after'
