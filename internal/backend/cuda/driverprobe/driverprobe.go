//go:build cuda

// Package driverprobe checks for a usable CUDA driver and device before
// gorgonia.org/cu's package init runs: that init calls cuInit and, when it
// fails, prints a bare driver error and exits. Go initialises packages in
// import-path order ("gorgonia.org/..." before "simclr/..."), so a Go init
// here would run too late; the check is a C constructor instead, which the
// loader runs before the Go runtime starts. It dlopens libcuda.so.1, calls
// cuInit and cuDeviceGetCount, and on failure prints
//
//	simclr: no CUDA device found: <reason>; this binary was built with -tags cuda: use the CPU build (make build) or a machine with an NVIDIA GPU
//
// and exits with status 3. Setting SIMCLR_SKIP_CUDA_PROBE=1 skips the
// check (gorgonia's own failure then applies).
//
// The binary does not link libcuda.so.1 itself (make build-cuda links
// tools/cudashim's static stand-in, which dlopens the driver at start-up),
// so a machine without the driver reaches this probe instead of failing in
// the dynamic loader with "error while loading shared libraries".
package driverprobe

/*
#cgo LDFLAGS: -ldl
#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>

typedef int (*cu_init_fn)(unsigned int);
typedef int (*cu_count_fn)(int*);
typedef int (*cu_errstr_fn)(int, const char**);

static int probe_status = 0;     // 0 ok, else the CUresult or -1 (no libcuda)
static int probe_devices = 0;
static char probe_reason[256];

static void simclr_probe_run(void) {
	void* h = dlopen("libcuda.so.1", RTLD_NOW | RTLD_GLOBAL);
	if (h == NULL) {
		probe_status = -1;
		snprintf(probe_reason, sizeof probe_reason,
		         "the NVIDIA driver library libcuda.so.1 cannot be loaded (%s): install the NVIDIA driver, "
		         "or under Docker run with --gpus all (NVIDIA Container Toolkit)", dlerror());
		return;
	}
	cu_init_fn init = (cu_init_fn)dlsym(h, "cuInit");
	cu_count_fn count = (cu_count_fn)dlsym(h, "cuDeviceGetCount");
	cu_errstr_fn errstr = (cu_errstr_fn)dlsym(h, "cuGetErrorString");
	if (init == NULL || count == NULL) {
		probe_status = -1;
		snprintf(probe_reason, sizeof probe_reason, "libcuda.so.1 lacks cuInit/cuDeviceGetCount");
		return;
	}
	int rc = init(0);
	if (rc == 0) rc = count(&probe_devices);
	if (rc == 0 && probe_devices == 0) rc = 100;  // CUDA_ERROR_NO_DEVICE
	if (rc != 0) {
		const char* msg = "unknown error";
		if (errstr != NULL) errstr(rc, &msg);
		probe_status = rc;
		snprintf(probe_reason, sizeof probe_reason, "cuInit/cuDeviceGetCount failed with CUresult %d (%s)", rc, msg);
	}
}

__attribute__((constructor)) static void simclr_probe_ctor(void) {
	const char* skip = getenv("SIMCLR_SKIP_CUDA_PROBE");
	if (skip != NULL && skip[0] == '1') return;
	simclr_probe_run();
	if (probe_status != 0) {
		fprintf(stderr, "simclr: no CUDA device found: %s; this binary was built with -tags cuda: "
		                "use the CPU build (make build) or a machine with an NVIDIA GPU\n", probe_reason);
		exit(3);
	}
}

static int simclr_probe_devices(void) { return probe_devices; }
*/
import "C"

// Devices returns the number of CUDA devices the start-up probe found.
func Devices() int { return int(C.simclr_probe_devices()) }
