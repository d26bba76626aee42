"""Security: cluster certificates and job request signatures (RFC 39)."""
