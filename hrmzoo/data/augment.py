"""Grid symmetries shared by the Maze and ARC builders.

The eight dihedral transforms use the numbering of the original HRM builders
(so augmentation names mean the same thing in both code bases):

====  ======================================
 id   transform
====  ======================================
 0    identity
 1    rotate 90 degrees counter-clockwise
 2    rotate 180 degrees
 3    rotate 270 degrees counter-clockwise
 4    flip left-right
 5    flip up-down
 6    transpose (main diagonal)
 7    anti-transpose (anti-diagonal)
====  ======================================
"""

from __future__ import annotations

import numpy as np

#: ``DIHEDRAL_INVERSE[t]`` undoes transform ``t``.
DIHEDRAL_INVERSE = (0, 3, 2, 1, 4, 5, 6, 7)
NUM_DIHEDRAL = 8


def dihedral(grid: np.ndarray, tid: int) -> np.ndarray:
    """Apply dihedral transform `tid` (0..7) to a 2-D grid (returns a new array)."""
    g = np.asarray(grid)
    if tid == 0:
        out = g
    elif tid in (1, 2, 3):
        out = np.rot90(g, k=tid)
    elif tid == 4:
        out = np.fliplr(g)
    elif tid == 5:
        out = np.flipud(g)
    elif tid == 6:
        out = g.T
    elif tid == 7:
        out = np.fliplr(np.rot90(g, k=1))
    else:
        raise ValueError(f"dihedral transform id must be 0..7, got {tid}")
    return np.ascontiguousarray(out)


def inverse_dihedral(grid: np.ndarray, tid: int) -> np.ndarray:
    """Undo `dihedral` with the same `tid`."""
    return dihedral(grid, DIHEDRAL_INVERSE[tid])
