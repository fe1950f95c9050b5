"""libx264 options that make an encode the same bytes every time, on any x86-64 CPU with AVX2.

libx264 chooses its assembly by CPU. Two consequences, measured with PyAV 18.1's libx264 on an
AMD EPYC with AVX-512:

- its AVX-512 kernels do not repeat: the same clip and settings, encoded again in the same
  process, gave different bytes (``h264_crf`` on a 64 px clip: 9 distinct outputs in 10 calls;
  ``bit_error``, ``packet_loss``, ``h264_abr`` and the synthetic dataset's videos likewise), with
  decoded pixels apart by up to 13 levels. ``threads=1``, explicit timestamps and disabling
  lookahead threads do not help; capping the assembly at AVX2 does (identical bytes in every repeat);
- its floating-point MB-tree kernels round differently with FMA (AVX2) than without (SSE2), so even
  repeatable encodes differ between CPU generations.

So on an x86-64 CPU with AVX2 every libx264 encode here runs with ``asm=AVX2``: what a CPU
without AVX-512 picks by itself, now also on CPUs with it. Other CPUs (no AVX2, or not x86) keep
libx264's own choice, which repeats there.
"""

from __future__ import annotations

try:
    from numpy._core._multiarray_umath import __cpu_features__  # NumPy's own probe of the CPU
except ImportError:  # NumPy 1.x
    from numpy.core._multiarray_umath import __cpu_features__

X264_CODECS = ("libx264", "libx264rgb")
PORTABLE_ASM = "AVX2"


def cpu_has_avx2() -> bool:
    """Whether this CPU runs AVX2 and FMA3 (False on other architectures)."""
    return bool(__cpu_features__.get("AVX2") and __cpu_features__.get("FMA3"))


def repeatable_options(codec: str, options: dict[str, str]) -> dict[str, str]:
    """``options`` for ``codec`` with libx264's assembly capped at AVX2 where the CPU has AVX2.

    A caller's own ``asm`` in ``x264-params`` is kept; other codecs are returned unchanged.
    """
    if codec not in X264_CODECS or not cpu_has_avx2():
        return dict(options)
    params = options.get("x264-params", "")
    if any(item.split("=", 1)[0].strip() == "asm" for item in params.split(":") if item):
        return dict(options)
    return {**options, "x264-params": f"{params}:asm={PORTABLE_ASM}" if params else f"asm={PORTABLE_ASM}"}
