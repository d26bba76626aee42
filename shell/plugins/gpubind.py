# -*- test-case-name: tests.unit.exec.test_shell_plugins -*-
"""Builtin ``gpu-affinity`` plugin: ``CUDA_VISIBLE_DEVICES`` from R.

``-o gpu-affinity=``:

- ``on`` (the default): every task sees all the GPUs R gives the job on
  this node;
- ``per-task``: each task sees its own ``NGPUS // NTASKS`` of them, in
  order (what does not divide evenly is left to none, as in flux);
- ``off``: the environment is left alone.

As flux's shell does: a job with no GPU on the node gets
``CUDA_VISIBLE_DEVICES=-1`` (so that it uses none of the node's), and
one with GPUs ``CUDA_DEVICE_ORDER=PCI_BUS_ID`` (CUDA numbers devices as
the resource module does) unless its environment sets it.  Another
value ends the job with an error (flux takes it as ``on``).
"""

from flux_shell.plugins.affinity import local_ids

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
        if value == "off":
            return
        gpus = local_ids(shell.spec["R"], shell.broker_rank, "gpu")
        ntasks = len(shell.local_ranks)
        if not gpus:
            state["sets"] = None
        elif value == "on":
            state["sets"] = [gpus] * ntasks
        else:
            each = len(gpus) // max(ntasks, 1)
            state["sets"] = [gpus[i * each:(i + 1) * each]
                             for i in range(ntasks)]
        p.add_handler("task.init", setenv)

    def setenv(shell, topic, task):
        if state["sets"] is None:
            task.env["CUDA_VISIBLE_DEVICES"] = "-1"
            return
        task.env["CUDA_VISIBLE_DEVICES"] = ",".join(
            str(g) for g in state["sets"][task.localid])
        task.env.setdefault("CUDA_DEVICE_ORDER", "PCI_BUS_ID")

    p.add_handler("shell.init", init)
