# -*- test-case-name: tests.unit.job.test_jobtap_builtins -*-
"""The job manager's built-in jobtap plugins (:mod:`fluxd.job.jobtap`).

:data:`PLUGINPATH` is where a plugin named without a directory
(``flux jobtap load site.py``, ``[job-manager] plugins = [{load =
"site.py"}]``) is looked for, as flux-core's compiled-in
``jobtap_pluginpath`` (``flux config builtin jobtap_pluginpath``).
"""

#: colon-separated directories searched for plugins named without a path
PLUGINPATH = "/usr/lib/flux/job-manager/plugins"
