"""twistd plugin: ``twistd fluxd`` runs a fluxd broker (see fluxd.tap)."""

from twisted.application.service import ServiceMaker

fluxd = ServiceMaker(
    "fluxd",
    "fluxd.tap",
    "A Flux-style resource manager broker",
    "fluxd",
)
