# -*- test-case-name: tests.unit.job.test_jobtap_builtins -*-
"""The job manager's built-in jobtap plugins (:mod:`fluxd.job.jobtap`)."""
