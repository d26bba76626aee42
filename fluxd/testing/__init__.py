"""Test helpers and fakes shipped with fluxd (held to the contract tests)."""
