# -*- test-case-name: tests.unit.job.test_jobtap_limits -*-
"""``.limit-job-size``: ``policy.limits.job-size`` and the queues' own
job-size limits, checked in ``job.validate`` (new jobs and updates) with
flux's messages (:mod:`fluxd.job.limits`).  The config is parsed on
``conf.update`` (at load and on each reload, which a bad value refuses);
with no limit configured a job costs one test."""

from fluxd.job._limitplugin import register


def plugin_init(p):
    """Register ``job.validate`` and ``conf.update``."""
    register(p, ("size",))
