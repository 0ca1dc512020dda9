// The results of a run whose batches were split over the ranks of an MPI job (host/dist).
#ifndef DS_SAMPLE_MERGE_H
#define DS_SAMPLE_MERGE_H

#include "ds_sample.h"

// Collective: every rank's r (the same n_samples, each sample run by one rank) becomes the
// whole run's: per-sample NFE and landing, the largest NFE, the denoiser calls summed.
int ds_sample_result_merge(ds_sample_result *r);

#endif
