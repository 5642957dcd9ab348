"""Small building blocks shared by components (timm.layers supplies the rest)."""

from hrmzoo.layers.attention import attention, attention_kernel
from hrmzoo.layers.init import lecun_init_, trunc_normal_init_
from hrmzoo.layers.norm import RmsNorm
from hrmzoo.layers.rope import RotaryEmbedding1d, apply_rotary

__all__ = ["RmsNorm", "RotaryEmbedding1d", "apply_rotary", "attention", "attention_kernel", "lecun_init_", "trunc_normal_init_"]
