// diffsamp: sampling diffusion models whose score is known in closed form.
// The public API: include this one header.
#ifndef DIFFSAMP_H
#define DIFFSAMP_H

#include "ds_error.h"
#include "ds_io.h"
#include "ds_data.h"
#include "ds_model.h"
#include "ds_backend.h"
#include "ds_philox.h"
#include "ds_solver.h"
#include "ds_schedule.h"
#include "ds_sample.h"
#include "ds_analysis.h"
#include "ds_noether.h"
#include "ds_version.h"

#endif
