"""The scheduler: RFC 27 service (:mod:`fluxd.sched.service`) around a
Twisted-free policy (:mod:`fluxd.sched.policy`): Fluxion's queue and
match policies in :mod:`fluxd.sched.fluxion`, over an indexed pool
(:mod:`fluxd.sched.pool`) and a planner in time
(:mod:`fluxd.sched.planner`)."""
