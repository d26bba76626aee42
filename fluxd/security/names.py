# -*- test-case-name: tests.unit.security.test_names -*-
"""DNS names as flux-core checks them (RFC 1035 labels).

The cluster certificate's name and every ``[bootstrap]`` host name must
pass :func:`validate_domain_name`.  Pure Python.
"""

__all__ = ["validate_domain_name"]


def validate_domain_name(name):
    """Check a host name as flux-core does (RFC 1035 labels).

    Labels are 1-63 letters, digits and hyphens, not starting or ending
    with a hyphen; the name is at most 253 characters.  flux skips empty
    labels (``a..b``); fluxd refuses them.

    :returns: None when valid, else the reason.
    """
    if not 1 <= len(name) <= 253:
        return "domain must be 1-253 characters"
    for label in name.split("."):
        if not 1 <= len(label) <= 63:
            return "domain label must be 1-63 characters"
        if label[0] == "-" or label[-1] == "-":
            return "domain label must not start or end with '-'"
        for c in label:
            if not (c.isascii() and c.isalnum()) and c != "-":
                return (f"domain label contains invalid character '{c}'"
                        f" (0x{ord(c):x})")
    return None
