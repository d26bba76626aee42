"""Flux messages (RFC 3) and the broker's router (RFC 6 RPC semantics)."""
