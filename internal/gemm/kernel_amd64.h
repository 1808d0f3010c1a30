// Accumulator handling shared by the 6x16 AVX2 micro-kernels
// (kernel_amd64.s, kernel_offsets_amd64.s): the 6x16 tile lives in Y0..Y11,
// row r in Y(2r) (columns 0..7) and Y(2r+1) (columns 8..15).

// ZERO_ACC clears the tile.
#define ZERO_ACC \
	VXORPS Y0, Y0, Y0; \
	VXORPS Y1, Y1, Y1; \
	VXORPS Y2, Y2, Y2; \
	VXORPS Y3, Y3, Y3; \
	VXORPS Y4, Y4, Y4; \
	VXORPS Y5, Y5, Y5; \
	VXORPS Y6, Y6, Y6; \
	VXORPS Y7, Y7, Y7; \
	VXORPS Y8, Y8, Y8; \
	VXORPS Y9, Y9, Y9; \
	VXORPS Y10, Y10, Y10; \
	VXORPS Y11, Y11, Y11

// SCALE_ACC multiplies the tile by the broadcast alpha in Y14.
#define SCALE_ACC \
	VMULPS Y14, Y0, Y0; \
	VMULPS Y14, Y1, Y1; \
	VMULPS Y14, Y2, Y2; \
	VMULPS Y14, Y3, Y3; \
	VMULPS Y14, Y4, Y4; \
	VMULPS Y14, Y5, Y5; \
	VMULPS Y14, Y6, Y6; \
	VMULPS Y14, Y7, Y7; \
	VMULPS Y14, Y8, Y8; \
	VMULPS Y14, Y9, Y9; \
	VMULPS Y14, Y10, Y10; \
	VMULPS Y14, Y11, Y11

// STORE(lo, hi) writes one row at R10: C = t (beta == 0 path); R10 += ldc.
#define STORE(lo, hi) \
	VMOVUPS lo, (R10); \
	VMOVUPS hi, 32(R10); \
	ADDQ DX, R10

// UPDATE(lo, hi) writes one row at R10: C = beta*C + t with beta in Y15.
#define UPDATE(lo, hi) \
	VFMADD231PS (R10), Y15, lo; \
	VFMADD231PS 32(R10), Y15, hi; \
	VMOVUPS lo, (R10); \
	VMOVUPS hi, 32(R10); \
	ADDQ DX, R10

// STORE_ACC and UPDATE_ACC write the whole tile from R10 (row stride DX).
#define STORE_ACC \
	STORE(Y0, Y1); \
	STORE(Y2, Y3); \
	STORE(Y4, Y5); \
	STORE(Y6, Y7); \
	STORE(Y8, Y9); \
	STORE(Y10, Y11)

#define UPDATE_ACC \
	UPDATE(Y0, Y1); \
	UPDATE(Y2, Y3); \
	UPDATE(Y4, Y5); \
	UPDATE(Y6, Y7); \
	UPDATE(Y8, Y9); \
	UPDATE(Y10, Y11)
