"""Tests for :mod:`fluxd.security.names`."""

from twisted.trial.unittest import SynchronousTestCase

from fluxd.security.names import validate_domain_name


class DomainTests(SynchronousTestCase):
    """conf_bootstrap.c test_domain."""

    def test_valid(self):
        for name in ("foo", "foo42", "foo.bar", "foo-bar"):
            self.assertIsNone(validate_domain_name(name), name)

    def test_invalid(self):
        for name, reason in (
                ("-foo", "domain label must not start or end with '-'"),
                ("foo-", "domain label must not start or end with '-'"),
                ("fo:o", "domain label contains invalid character ':' (0x3a)"),
                ("foo.-bar", "domain label must not start or end with '-'"),
                ("foo.-bar.baz",
                 "domain label must not start or end with '-'"),
                ("", "domain must be 1-253 characters"),
                ("a" * 64, "domain label must be 1-63 characters"),
                ("a..b", "domain label must be 1-63 characters"),
                ("a_b", "domain label contains invalid character '_' (0x5f)")):
            self.assertEqual(validate_domain_name(name), reason, name)
