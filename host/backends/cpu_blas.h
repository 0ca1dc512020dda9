// The cpu denoisers' switch of OpenBLAS threading (host/backends/cpu_blas.c).
#ifndef DS_CPU_BLAS_H
#define DS_CPU_BLAS_H

// Makes OpenBLAS run single-threaded in the calling thread (for SGEMMs issued from
// inside an OpenMP region); returns the previous thread count for cpu_blas_serial_end.
// The setting is process-wide: the cpu backend expects one host thread calling it.
int cpu_blas_serial_begin(void);
void cpu_blas_serial_end(int saved);

#endif
