// The closed-form schedules (host/sample/schedule_formula.c), built by ds_schedule_build
// and, for its teacher grid, by GITS (library-internal).
#ifndef DS_SCHEDULE_FORMULA_H
#define DS_SCHEDULE_FORMULA_H

#include "ds_schedule.h"

// The checks of --steps, sigma_min, sigma_max and --rho every built schedule passes.
int ds_schedule_check_range(const ds_schedule_opts *o);
// o->kind "edm", "logsnr" or "vp": the formula's o->steps points from sigma_max to
// sigma_min (then 0 when o->final_zero) into a new array *sigmas of *n entries.
int ds_schedule_formula(const ds_schedule_opts *o, double **sigmas, int *n);

#endif
