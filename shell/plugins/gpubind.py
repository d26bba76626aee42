# -*- test-case-name: tests.unit.exec.test_shell_plugins -*-
"""Builtin ``gpu-affinity`` plugin: ``CUDA_VISIBLE_DEVICES`` from R.

``-o gpu-affinity=``:

- ``on`` (the default): every task sees all the GPUs R gives the job on
  this node;
- ``per-task``: those GPUs are shared out, each task seeing its own;
- ``off``: the environment is left alone.

With GPUs it also sets ``CUDA_DEVICE_ORDER=PCI_BUS_ID`` (so that CUDA
numbers devices as the resource module does), as flux does; on a node
where the job has no GPU nothing is set.  Another value ends the job
with an error.
"""

from flux_shell.plugins.affinity import local_ids, share

__all__ = ["NAME", "flux_plugin_init"]

NAME = "gpu-affinity"


def flux_plugin_init(p):
    """Register ``shell.init`` (share the GPUs) and ``task.init``."""
    state = {}

    def init(shell, topic, task):
        value = p.getopt("gpu-affinity")
        value = "on" if value is None or value == 1 else str(value)
        if value not in ("on", "off", "per-task"):
            raise ValueError(f"gpu-affinity: invalid option {value!r}"
                             " (expected off, on or per-task)")
        gpus = local_ids(shell.spec["R"], shell.broker_rank, "gpu")
        if value == "off" or not gpus:
            return
        ntasks = len(shell.local_ranks)
        state["sets"] = [gpus] * ntasks if value == "on" \
            else share(gpus, ntasks)
        p.add_handler("task.init", setenv)

    def setenv(shell, topic, task):
        task.env["CUDA_VISIBLE_DEVICES"] = ",".join(
            str(g) for g in state["sets"][task.localid])
        task.env["CUDA_DEVICE_ORDER"] = "PCI_BUS_ID"

    p.add_handler("shell.init", init)
