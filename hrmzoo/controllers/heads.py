"""Deprecated name of `hrmzoo.controllers.modulation` (modulation heads; output heads are `hrmzoo.heads`).

Kept so that `from hrmzoo.controllers.heads import HeadController, HeadSpec`
still works; it warns once and will be removed.
"""

import warnings

from hrmzoo.controllers.modulation import *  # noqa: F401,F403
from hrmzoo.controllers.modulation import HeadController, HeadSpec  # noqa: F401  (the names plugins import)

warnings.warn("hrmzoo.controllers.heads is renamed hrmzoo.controllers.modulation; import from there",
              DeprecationWarning, stacklevel=2)
