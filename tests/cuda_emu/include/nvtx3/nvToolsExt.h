// The emulator's NVTX: ranges are counted, and a pop without a push stops the emulator.
#ifndef DS_EMU_NVTOOLSEXT_H
#define DS_EMU_NVTOOLSEXT_H

#ifdef __cplusplus
extern "C" {
#endif

int nvtxRangePushA(const char *message);
int nvtxRangePop(void);

#ifdef __cplusplus
}
#endif

#endif
