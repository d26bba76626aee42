"""Shared pieces of the resource integration tests: the admin guide's
example configurations and a way to run a script inside a real
``flux start --test-size=N`` instance and read back what each step
printed."""

import os
import re
import subprocess
import sys

from fluxd.testing.cli import flux_executable
from fluxd.testing.guide import QUEUES_POLICY, RESOURCE_CONFIG

#: the guide's system.toml ("Configuring the Flux System Instance"), with
#: ``noverify`` set: this host has neither 64 cores nor GPUs
SYSTEM_TOML = """\
[exec]
imp = "/usr/libexec/flux/flux-imp"

[access]
allow-guest-user = true
allow-root-owner = true

[bootstrap]
curve_cert = "/etc/flux/system/curve.cert"
default_port = 8050
default_bind = "tcp://eth0:%p"
default_connect = "tcp://%h:%p"
hosts = [
   { host = "test[1-16]" },
]

[tbon]
tcp_user_timeout = "2m"

[resource]
noverify = true
#norestrict = true
#exclude = "test[1-2]"

""" + RESOURCE_CONFIG + """
[kvs]
checkpoint-period = "30m"
gc-threshold = 100000

[ingest.validator]
plugins = [ "jobspec", "feasibility" ]

[job-manager]
inactive-age-limit = "7d"

[policy.jobspec.defaults.system]
duration = "1m"

[policy.limits]
duration = "2h"
job-size.max.nnodes = 8
job-size.max.ncores = 32

[sched-fluxion-qmanager]
queue-policy = "easy"
[sched-fluxion-resource]
match-policy = "lonodex"
match-format = "rv1_nosched"
"""

#: the system example's resources with the guide's "Adding Queues"
#: example, in one file (TOML arrays cannot be split across files): its
#: [[resource.config]] entries add the queue properties to the system
#: example's nodes, since entries accumulate per host
QUEUES_TOML = """\
[resource]
noverify = true

""" + RESOURCE_CONFIG + """
[[resource.config]]
hosts = "test[1-4]"
properties = ["debug"]

[[resource.config]]
hosts = "test[5-16]"
properties = ["batch"]

""" + QUEUES_POLICY

PRELUDE = '''\
import json, os, signal, subprocess, sys
FLUX = os.path.join(os.path.dirname(sys.executable), "flux")

def flux(*args):
    return subprocess.run([FLUX, *args], capture_output=True, text=True)

def show(label, *args):
    p = flux(*args)
    print(f"== {label} rc={p.returncode}", flush=True)
    sys.stdout.write(p.stdout + p.stderr)
    sys.stdout.flush()
    return p

def brokers():
    path = os.path.join(os.environ["FLUXD_START_DIR"], "brokers.json")
    with open(path) as f:
        return {b["rank"]: b for b in json.load(f)}

def kill(rank):
    os.kill(brokers()[rank]["pid"], signal.SIGKILL)
'''

_HEADER = re.compile(r"^== (.+) rc=(-?\d+)$", re.M)


def write_config(directory, **files):
    """Write ``name.toml`` files into ``directory``; return its path."""
    os.makedirs(directory, exist_ok=True)
    for name, text in files.items():
        with open(os.path.join(directory, f"{name}.toml"), "w") as f:
            f.write(text)
    return str(directory)


def environ(tmp_path):
    """UTC times, no user format configuration."""
    env = dict(os.environ, TZ="UTC", XDG_CONFIG_HOME=str(tmp_path / "xdg"),
               XDG_CONFIG_DIRS=str(tmp_path / "xdg-none"))
    for sub in ("STATUS", "LIST", "DRAIN"):
        env.pop(f"FLUX_RESOURCE_{sub}_FORMAT_DEFAULT", None)
    env.pop("FLUX_URI", None)
    return env


def flux_start(tmp_path, script, *opts, size=16, hosts="test[1-16]",
               name="script.py", timeout=120):
    """Run ``script`` (Python, after :data:`PRELUDE`) in a new instance.

    :returns: the finished :class:`subprocess.CompletedProcess`.
    """
    path = tmp_path / name
    path.write_text(PRELUDE + script)
    argv = [flux_executable(), "start", f"--test-size={size}"]
    if hosts:
        argv.append(f"--test-hosts={hosts}")
    return subprocess.run([*argv, *opts, sys.executable, str(path)],
                          capture_output=True, text=True, timeout=timeout,
                          cwd=tmp_path, env=environ(tmp_path))


def sections(out):
    """What each ``show()`` printed: ``{label: (rc, text)}``."""
    found = {}
    matches = list(_HEADER.finditer(out))
    for i, m in enumerate(matches):
        end = matches[i + 1].start() if i + 1 < len(matches) else len(out)
        found[m.group(1)] = (int(m.group(2)), out[m.end() + 1:end])
    return found


def out(steps, label, rc=0):
    """The output of the step ``label`` of :func:`sections`, checking its
    exit code."""
    got_rc, text = steps[label]
    assert got_rc == rc, (label, text)
    return text
