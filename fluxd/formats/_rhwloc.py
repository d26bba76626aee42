# -*- test-case-name: tests.unit.cli.test_cmd_R -*-
"""Core and GPU ids from an hwloc XML topology, or from this machine.

``flux R encode --xml FILE`` and ``--local`` describe a node the way
flux-core's ``rlist_from_hwloc()`` does, without linking hwloc:

- cores are the topology's ``Core`` objects, numbered by logical index
  (document order), so a node with 44 cores has ``core`` ids ``0-43``;
- GPUs are the OS devices whose ``Backend`` info is ``CUDA`` (or ``NVML``
  when no CUDA device is listed, so NVIDIA GPUs are not counted twice),
  ``OpenCL`` or ``RSMI``, numbered 0.. in document order.

For ``--local``, ``FLUX_HWLOC_XMLFILE`` names an XML file to use instead
of the machine (as in flux-core, a testing aid).  Otherwise cores are the
distinct physical cores (``/sys/devices/system/cpu``) holding a CPU this
process may run on, and GPUs are the NVIDIA devices the driver lists in
``/proc/driver/nvidia/gpus``; other GPU kinds need hwloc and are not seen.
"""

import os
import xml.etree.ElementTree as ElementTree

from fluxd.formats._rnode import RError

__all__ = ["topology_from_xml", "local_topology"]

_COPROC_BACKENDS = ("OpenCL", "RSMI")


def _info(obj, name):
    for info in obj.findall("info"):
        if info.get("name") == name:
            return info.get("value")
    return None


def topology_from_xml(text, source="XML"):
    """Read core and GPU ids from hwloc XML (hwloc 1.x or 2.x format).

    :param text: the XML document (str or bytes).
    :param source: name used in error messages (the file name).
    :returns: ``(cores, gpus)`` idset strings, e.g. ``("0-43", "0-3")``;
        ``gpus`` is ``""`` when there are none.
    :raises RError: when the document is not an hwloc topology.
    """
    try:
        root = ElementTree.fromstring(text)
    except ElementTree.ParseError as exc:
        raise RError(f"{source}: invalid hwloc XML: {exc}") from None
    if root.tag != "topology":
        raise RError(f"{source}: not an hwloc topology (root element"
                     f" <{root.tag}>)")
    objects = list(root.iter("object"))
    ncores = sum(1 for obj in objects if obj.get("type") == "Core")
    osdevs = [_info(obj, "Backend") for obj in objects
              if obj.get("type") == "OSDev"]
    nvidia = "CUDA" if "CUDA" in osdevs else "NVML"
    ngpus = sum(1 for backend in osdevs
                if backend == nvidia or backend in _COPROC_BACKENDS)
    return _ids(ncores), _ids(ngpus)


def _ids(count):
    if count == 0:
        return ""
    return "0" if count == 1 else f"0-{count - 1}"


def _read_int(path):
    try:
        with open(path) as fp:
            return int(fp.read().strip())
    except (OSError, ValueError):
        return None


def _local_core_count(sysfs):
    cpus = os.sched_getaffinity(0)
    cores = set()
    for cpu in cpus:
        topo = os.path.join(sysfs, f"cpu{cpu}", "topology")
        package = _read_int(os.path.join(topo, "physical_package_id"))
        core = _read_int(os.path.join(topo, "core_id"))
        # Without sysfs topology each usable CPU counts as a core.
        cores.add((package, core) if core is not None else ("cpu", cpu))
    return len(cores)


def local_topology(sysfs="/sys/devices/system/cpu",
                   nvidia="/proc/driver/nvidia/gpus"):
    """Describe this machine's cores and GPUs as ``--local`` does.

    :param sysfs: CPU topology directory (a parameter for tests).
    :param nvidia: NVIDIA driver GPU directory (a parameter for tests).
    :returns: ``(cores, gpus)`` idset strings.
    :raises RError: when ``FLUX_HWLOC_XMLFILE`` is set but unreadable or
        not hwloc XML.
    """
    xmlfile = os.environ.get("FLUX_HWLOC_XMLFILE")
    if xmlfile:
        try:
            with open(xmlfile, "rb") as fp:
                return topology_from_xml(fp.read(), xmlfile)
        except OSError as exc:
            raise RError(f"{xmlfile}: {exc.strerror}") from None
    try:
        ngpus = len(os.listdir(nvidia))
    except OSError:
        ngpus = 0
    return _ids(_local_core_count(sysfs)), _ids(ngpus)
