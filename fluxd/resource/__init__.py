"""Resources of a Flux instance: the system view (``resource.status``) and
the scheduler view (``resource.sched-status``) that ``flux resource``
renders, RFC 20 resource sets and RFC 27 scheduler states."""
