/*
 * A diagnostic for bench/djl-vs-pytorch.sh (MKL_AS_INTEL=1), never part of Quarry: libtorch's CPU build links Intel
 * MKL, which on AMD processors takes its generic AVX2 GEMM kernels even where the CPU has AVX-512, while OpenBLAS
 * picks AVX-512 kernels. Preloaded into the DJL side only, these two MKL service functions answer "an Intel CPU", so
 * MKL dispatches by the instruction sets it detects. It shows how much of the DJL/PyTorch gap is the BLAS.
 */
int mkl_serv_intel_cpu_true(void) { return 1; }
int mkl_serv_intel_cpu(void) { return 1; }
