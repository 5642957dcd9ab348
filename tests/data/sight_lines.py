"""Line of sight for the tests' independent perspective solvers (version 1 grids and version 2
stories), in exact rational arithmetic so no float edge case decides whether a wall blocks a view."""

from __future__ import annotations

from fractions import Fraction


def segment_enters_square(a, b, r, c) -> bool:
    """Whether the segment between the centres of cells a and b meets the open square (r, r+1) x (c, c+1)."""
    t_lo, t_hi = Fraction(0), Fraction(1)
    for p0, p1, lo, hi in ((Fraction(2 * a[0] + 1, 2), Fraction(2 * b[0] + 1, 2), r, r + 1),
                           (Fraction(2 * a[1] + 1, 2), Fraction(2 * b[1] + 1, 2), c, c + 1)):
        d = p1 - p0
        if d == 0:
            if not (lo < p0 < hi):
                return False
            continue
        t1, t2 = (lo - p0) / d, (hi - p0) / d
        t_lo, t_hi = max(t_lo, min(t1, t2)), min(t_hi, max(t1, t2))
    return t_lo < t_hi
