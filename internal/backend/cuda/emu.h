// emu.h - the C interface of the CUDA emulator (emu_kernels.cc), used by
// the cudaemu driver through cgo.
#ifndef SIMCLR_EMU_H
#define SIMCLR_EMU_H

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

// emu_kernel_count returns the number of kernels the emulator knows.
int emu_kernel_count(void);
// emu_kernel_name returns kernel id's name, or NULL when id is out of range.
const char* emu_kernel_name(int id);
// emu_kernel_id returns the id of the named kernel, or -1.
int emu_kernel_id(const char* name);
// emu_kernel_nargs returns the number of arguments kernel id takes, or -1.
int emu_kernel_nargs(int id);
// emu_kernels_hash returns the SHA-256 of kernels/*.cu{,h} the emulator was
// built from (kernels_hash.h, written by kernels/build.sh emu-hash).
const char* emu_kernels_hash(void);
// emu_launch runs kernel id over the grid and waits for it. args holds
// nargs 8-byte slots. It returns 0, or non-zero with a message in err.
int emu_launch(int id, unsigned gx, unsigned gy, unsigned gz, unsigned bx, unsigned by, unsigned bz,
               unsigned sharedBytes, const uint64_t* args, int nargs, char* err, int errLen);

#ifdef __cplusplus
}
#endif

#endif  // SIMCLR_EMU_H
