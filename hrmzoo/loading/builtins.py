"""hrmzoo's own plugin module: importing it registers every built-in component.

The built-ins register exactly as a third-party plugin does (a module whose
import runs `@register` decorators); `hrmzoo.loading.plugins.load_components` imports
this module first, then the `hrmzoo.components` entry-point group. The registry
itself imports no component.
"""

from hrmzoo import (  # noqa: F401  (registration is an import side effect)
    blocks,
    controllers,
    couplings,
    embeddings,
    gradients,
    halting,
    heads,
    injections,
    solvers,
)
