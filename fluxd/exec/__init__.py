"""The exec service (RFC 32): test execution (:mod:`fluxd.exec.service`)
until job shells arrive."""
