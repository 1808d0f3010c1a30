// emu.h - the C interface of the CUDA emulator (emu_kernels.cc), used by
// the cudaemu driver through cgo.
#ifndef SIMCLR_EMU_H
#define SIMCLR_EMU_H

#include <stddef.h>
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
// emu_fp_contract returns 1 when the emulator was built with
// SIMCLR_EMU_FP_CONTRACT (a*b+c contracted into FMAs), else 0.
int emu_fp_contract(void);
// emu_fault_kernel_id returns the id of one of the emulator's own broken
// test kernels (emu_faults.h), or -1; the backend's list never has them.
int emu_fault_kernel_id(const char* name);
// emu_kernel_launch_bound returns kernel id's __launch_bounds__ (0: none),
// or -1 for an unknown id.
int emu_kernel_launch_bound(int id);
// emu_set_max_dynamic_shared sets kernel id's dynamic shared memory limit
// (cuFuncSetAttribute MAX_DYNAMIC_SHARED_SIZE_BYTES; default 48 KB, at
// most 227 KB). It returns 0, or non-zero with a message in err.
int emu_set_max_dynamic_shared(int id, int bytes, char* err, int errLen);

// Device memory. emu_mem_alloc maps bytes of poisoned memory flush against
// a guard page and returns the block (0: out of memory); the whole block is
// the live allocation. emu_mem_place makes the last n <= bytes of a block
// the live allocation (fresh poison) and returns its address (0: unknown
// block or n too large); the bytes in front become out of bounds.
// emu_mem_unplace marks a live allocation freed (inaccessible) until its
// block is placed again; emu_mem_free unmaps a block. emu_mem_check
// returns 0 when [p, p+n) lies inside one live allocation, else non-zero
// with a message in err.
uintptr_t emu_mem_alloc(size_t bytes);
uintptr_t emu_mem_place(uintptr_t block, size_t n);
int emu_mem_unplace(uintptr_t user);
int emu_mem_free(uintptr_t block);
int emu_mem_check(uintptr_t p, size_t n, char* err, int errLen);

// emu_launch runs kernel id over the grid and waits for it. args holds
// nargs 8-byte slots; sharedBytes is the dynamic shared memory per block.
// It returns 0, or non-zero with a message in err.
int emu_launch(int id, unsigned gx, unsigned gy, unsigned gz, unsigned bx, unsigned by, unsigned bz,
               unsigned sharedBytes, const uint64_t* args, int nargs, char* err, int errLen);

#ifdef __cplusplus
}
#endif

#endif  // SIMCLR_EMU_H
