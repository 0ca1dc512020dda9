// Thread counts for the library's OpenMP regions: small problems run on the calling
// thread. A region's workers that finish early spin while they wait for the next one
// (libgomp's default wait policy); on a shared machine they take the cores the calling
// thread needs, and a small 2-D run took 0.03 to 1.2 s instead of 0.01 to 0.04 s
// (issue 21.10, bench/RESULTS.md). The environment is left alone: OMP_NUM_THREADS still
// caps the count and OMP_WAIT_POLICY still chooses how the workers wait.
#ifndef DS_THREADS_H
#define DS_THREADS_H

// The threads for a region of about `work` arithmetic operations: one per
// DIFFSAMP_OMP_SERIAL_WORK operations (default 2^20, about half a millisecond on one
// core; 0: every region on all threads), at least 1, at most omp_get_max_threads().
int ds_threads_for(double work);

#endif
