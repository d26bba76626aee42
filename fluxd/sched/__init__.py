"""The scheduler: RFC 27 service (:mod:`fluxd.sched.service`) around a
replaceable, Twisted-free allocation policy (:mod:`fluxd.sched.policy`,
first fit in :mod:`fluxd.sched.firstfit`)."""
