"""fluxd's test suite.

:data:`VECTORS` is the directory of test data copied from flux-core and the
Flux Administrator's Guide (``tests/vectors/README.md`` names the origin
and licence of each folder).  Tests read vectors only from there, never
from outside the repository.
"""

import os

#: ``tests/vectors`` of this checkout
VECTORS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "vectors")
