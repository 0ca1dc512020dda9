// The emulator's stand-in for the CUDA runtime header (see cuda_runtime_api.h).
#include "cuda_runtime_api.h"
