# -*- test-case-name: tests.integration.test_demo -*-
"""Configuration fragments taken from the Flux Administrator's Guide.

The demo and the tests use the guide's own examples; they live here once.
"""

#: the system example's ``[[resource.config]]`` entries: test[1-15] with
#: 8 cores and a GPU each, test16 with 64 cores, 2 GPUs and ``fatnode``
RESOURCE_CONFIG = """\
[[resource.config]]
hosts = "test[1-15]"
cores = "0-7"
gpus = "0"

[[resource.config]]
hosts = "test16"
cores = "0-63"
gpus = "0-1"
properties = ["fatnode"]
"""

#: the "Adding Queues" example's ``[policy]`` and ``[queues]`` tables:
#: debug and batch queues selected by the node properties of the same
#: names, with their default and duration limits
QUEUES_POLICY = """\
[policy]
jobspec.defaults.system.duration = "1m"
jobspec.defaults.system.queue = "debug"

[queues.debug]
requires = ["debug"]
policy.limits.duration = "30m"

[queues.batch]
requires = ["batch"]
policy.limits.duration = "4h"
"""
