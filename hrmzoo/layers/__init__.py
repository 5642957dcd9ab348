"""Small building blocks shared by components (timm.layers supplies the rest)."""

from hrmzoo.layers.init import lecun_init_, trunc_normal_init_
from hrmzoo.layers.norm import RmsNorm
from hrmzoo.layers.rope import RotaryEmbedding1d, apply_rotary

__all__ = ["RmsNorm", "RotaryEmbedding1d", "apply_rotary", "lecun_init_", "trunc_normal_init_"]
