# Sourced by the scripts whose numbers the README quotes (quickstart.sh, reproduce_small.sh).
#
# One instruction set for every float kernel, so the numbers do not depend on whether an x86-64
# CPU has AVX-512 (it needs AVX2). PyTorch, oneDNN and MKL pick AVX-512 kernels where the CPU has
# them, and NumPy and OpenCV (the corruptions) dispatch to AVX-512 too; their rounding differs from
# the AVX2 kernels', and over many epochs a rounding difference acts like a different seed (the
# study's dense transformer, seed 0, on one AMD EPYC: 84.4% clean with AVX-512 kernels, 87.5% with
# AVX2 ones). The pin costs about 7% of training time. CPUs without AVX2, or not x86, ignore it
# and will not match the README's numbers exactly. Set VIDSPARSE_NATIVE_KERNELS=1 to skip it.
if [ "${VIDSPARSE_NATIVE_KERNELS:-0}" != 1 ]; then
    export ATEN_CPU_CAPABILITY=avx2 ONEDNN_MAX_CPU_ISA=AVX2 MKL_CBWR=AVX2
    export NPY_DISABLE_CPU_FEATURES="X86_V4 AVX512_ICL AVX512_SPR"
    export OPENCV_CPU_DISABLE="AVX512-SKX,AVX512-CLX"
fi
