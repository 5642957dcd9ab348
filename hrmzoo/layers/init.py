"""Weight initialisation, matching the original HRM code, computed the same on every CPU.

The original (and timm's `trunc_normal_tf_`, which this module used before issue 25)
draws a uniform, applies `erfinv` in float32, scales and clips. The bits of a float32
`erfinv` depend on the CPU kernel torch picks at run time (`ATEN_CPU_CAPABILITY`
default / avx2 / avx512, or another vendor's CPU), so the same seed gave different
weights on different machines. Here the same draws go through a fixed float64
formula built only from operations IEEE 754 rounds exactly (+, -, *, /, sqrt and
float64 -> dtype conversion; the logarithm is a series of those), then are rounded
once to the parameter's dtype: the same seed gives the same bits on every CPU.
The values are the original's to float32 rounding (a few ulp; tests/test_init.py).
"""

from __future__ import annotations

import math

import torch
from torch import nn

# std of a standard normal truncated at +-2: HRM's `trunc_normal_init_` divides by it so
# that the samples have the std asked for.
_TRUNC2_STD = 0.87962566103423978
_CUT = 2.0  # truncation, in units of the untruncated scale
_BITS = 24  # a float32 uniform draw holds 24 random bits (torch's uniform_real for float)

# Wichura (1988), Algorithm AS 241 (PPND16), Applied Statistics 37(3): the normal
# quantile to about 1e-16 relative. Highest power first.
_CENTRAL_NUM = (2.5090809287301226727e3, 3.3430575583588128105e4, 6.7265770927008700853e4, 4.5921953931549871457e4,
                1.3731693765509461125e4, 1.9715909503065514427e3, 1.3314166789178437745e2, 3.3871328727963666080e0)
_CENTRAL_DEN = (5.2264952788528545610e3, 2.8729085735721942674e4, 3.9307895800092710610e4, 2.1213794301586595867e4,
                5.3941960214247511077e3, 6.8718700749205790830e2, 4.2313330701600911252e1, 1.0)
_TAIL_NUM = (7.7454501427834140764e-4, 2.2723844989269184583e-2, 2.4178072517745061177e-1, 1.2704582524523683826e0,
             3.6478483247632046050e0, 5.7694972214606914055e0, 4.6303378461565452959e0, 1.4234371107496835773e0)
_TAIL_DEN = (1.0507500716444168432e-9, 5.4759380849953449460e-4, 1.5198666563616457197e-2, 1.4810397642748007459e-1,
             6.8976733498510000455e-1, 1.6763848301838038494e0, 2.0531916266377588219e0, 1.0)
_LN2 = 0.6931471805599453094


def _horner(coefficients: tuple[float, ...], x: torch.Tensor) -> torch.Tensor:
    # one torch op per multiply and per add: nothing a compiler could fuse into an FMA
    out = torch.full_like(x, coefficients[0])
    for c in coefficients[1:]:
        out.mul_(x).add_(c)
    return out


def _log(y: torch.Tensor) -> torch.Tensor:
    """Natural log of positive float64 `y`, from exactly rounded operations only
    (torch.log's bits depend on the CPU kernel): y = m 2^e with m in [sqrt(1/2), sqrt 2),
    log m = 2 atanh(s), s = (m - 1)/(m + 1), |s| <= 0.172, as its series to s^25."""
    m, e = torch.frexp(y)
    low = m < math.sqrt(0.5)
    m = torch.where(low, m * 2.0, m)
    e = (e - low.to(e.dtype)).to(torch.float64)
    s = (m - 1.0) / (m + 1.0)
    s2 = s * s
    series = torch.full_like(s, 1.0 / 25.0)
    for k in range(11, -1, -1):  # 1/23, ..., 1/1
        series.mul_(s2).add_(1.0 / (2 * k + 1))
    return series.mul_(s).mul_(2.0).add_(e.mul_(_LN2))


def _normal_quantile(u: torch.Tensor) -> torch.Tensor:
    """sqrt(2) erfinv(u), i.e. the standard normal quantile of p = (1 + u)/2, for float64
    `u` in [erf(-sqrt 2), erf(sqrt 2)] (the +-2 sigma truncation): AS 241's central and
    intermediate regions (its far tail starts beyond 5 sigma)."""
    q = u * 0.5  # p - 1/2, exactly
    r = 0.180625 - q * q
    z = _horner(_CENTRAL_NUM, r).mul_(q).div_(_horner(_CENTRAL_DEN, r))
    in_tail = q.abs() > 0.425  # about 11% of the draws: computed on those only
    qt = q[in_tail]
    t = torch.sqrt(-_log((0.5 - qt.abs()))).sub_(1.6)  # 0.5 - |q| = min(p, 1 - p), exactly
    z[in_tail] = torch.copysign(_horner(_TAIL_NUM, t).div_(_horner(_TAIL_DEN, t)), qt)
    return z


def _truncated_normal_(tensor: torch.Tensor, scale: float) -> torch.Tensor:
    """Fill `tensor` with `scale` times a standard normal cut at +-2, drawn from the
    global generator exactly as timm's `trunc_normal_tf_` draws it (one 24-bit
    uniform per element, mapped to [erf(-sqrt 2), erf(sqrt 2)] in float32), then
    computed in float64 and rounded once to the tensor's dtype."""
    if tensor.is_meta:  # shapes only (e.g. drawing a schedule): no values to draw
        return tensor
    bound = float(torch.tensor(math.erf(_CUT / math.sqrt(2.0)), dtype=torch.float32))  # timm: 2 norm_cdf(b) - 1
    width = float(torch.tensor(2.0 * bound, dtype=torch.float32))  # (to - from) in float32: exact
    with torch.no_grad():
        bits = torch.randint(0, 1 << _BITS, tensor.shape, dtype=torch.int64, device="cpu")  # the seeded CPU generator
        # torch's float uniform is (bits 2^-24) (to - from) + from: in float64 this is exact
        # (48 significant bits at most), and one rounding to float32 gives what the fused
        # multiply-add of torch's AVX2/AVX-512 kernels gives (its default kernel rounds twice)
        u = (bits.to(torch.float64) * 2.0**-_BITS * width - bound).to(torch.float32)
        z = _normal_quantile(u.to(torch.float64)).clamp_(-_CUT, _CUT)
        return tensor.copy_(z.mul_(scale))


def trunc_normal_init_(tensor: torch.Tensor, std: float = 1.0) -> torch.Tensor:
    """HRM's truncated normal: samples with standard deviation exactly `std`,
    cut at +-2 of the untruncated scale (`std / 0.8796`); zeros when `std == 0`.

    The original (`models/common.py`) computes the corrected scale
    `std / sqrt(1 - 2 * 2 * pdf(2) / z)` with `z = erf(2 / sqrt 2)`, which is
    `std / 0.87962566`, and draws uniform -> erfinv -> scale -> clip; here the
    same draw, computed CPU-independently (module docstring).
    """
    if std == 0:
        with torch.no_grad():
            return tensor.zero_()
    return _truncated_normal_(tensor, std / _TRUNC2_STD)


def lecun_init_(module: nn.Module) -> nn.Module:
    """Truncated LeCun normal for every Linear (std 1/sqrt(fan_in), cut at 2 sigma,
    std-corrected), zero biases: HRM's initialisation (timm's `lecun_normal_`, the
    same draw and scale, computed CPU-independently; a test checks the std)."""
    for m in module.modules():
        if isinstance(m, nn.Linear):
            fan_in = m.weight.shape[1]
            _truncated_normal_(m.weight, math.sqrt(1.0 / fan_in) / _TRUNC2_STD)
            if m.bias is not None:
                nn.init.zeros_(m.bias)
    return module


def float32_lecun_normal_(tensor: torch.Tensor) -> torch.Tensor:
    """timm's `lecun_normal_` (`variance_scaling_(mode='fan_in', distribution='truncated_normal')`),
    op for op: a float32 uniform, `erfinv_`, scale, clip at +-2, times `1/sqrt(fan_in) / 0.8796`.

    The convolution block's initialisation since it was written. Unlike `lecun_init_` its
    bits follow the CPU kernel of `erfinv` (module docstring); it is reproduced here, rather
    than imported, so that building a model does not import timm (which imports torchvision
    and torch's compiler: seconds of `hrmzoo solve`'s start-up). tests/test_conv_block.py
    compares it with timm's bit for bit.
    """
    fan_in, _ = nn.init._calculate_fan_in_and_fan_out(tensor)
    std = math.sqrt(1.0 / fan_in) / _TRUNC2_STD
    low = (1.0 + math.erf(-_CUT / math.sqrt(2.0))) / 2.0  # timm's norm_cdf(a), norm_cdf(b)
    high = (1.0 + math.erf(_CUT / math.sqrt(2.0))) / 2.0
    with torch.no_grad():
        tensor.uniform_(2 * low - 1, 2 * high - 1)
        tensor.erfinv_()
        tensor.mul_(1.0 * math.sqrt(2.0))
        tensor.add_(0.0)  # timm adds the mean (0) twice: -0.0 becomes +0.0, kept for identical bits
        tensor.clamp_(min=-_CUT, max=_CUT)
        tensor.mul_(std).add_(0.0)
    return tensor
