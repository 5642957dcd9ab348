"""Small building blocks shared by components (none imports timm: `hrmzoo solve` starts without it)."""

from hrmzoo.layers.attention import attention, attention_kernel
from hrmzoo.layers.fastpath import fast_layers
from hrmzoo.layers.init import lecun_init_, trunc_normal_init_
from hrmzoo.layers.norm import RmsNorm
from hrmzoo.layers.rope import RotaryEmbedding1d, apply_rotary
from hrmzoo.layers.swiglu import SwiGLU

__all__ = ["RmsNorm", "RotaryEmbedding1d", "SwiGLU", "apply_rotary", "attention", "attention_kernel", "fast_layers", "lecun_init_", "trunc_normal_init_"]
