package cuda

import (
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
)

// TestTensorCorePrimitivesSASS compiles testdata/mma_probe.cu (every
// primitive of kernels/mma.cuh) with nvcc for sm_80 and sm_90 and checks
// the SASS cuobjdump prints: the tensor-core instructions are really
// there (HMMA for both mma shapes, LDSM for ldmatrix with and without
// .trans, LDGSTS for cp.async, the bf16 conversion) and ptxas reports no
// spills. It needs nvcc and cuobjdump and skips without them.
func TestTensorCorePrimitivesSASS(t *testing.T) {
	for _, tool := range []string{"nvcc", "cuobjdump"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("%s not found: the SASS check needs the CUDA toolkit", tool)
		}
	}
	if testing.Short() {
		t.Skip("nvcc takes a while; skipped with -short")
	}
	for _, arch := range []string{"80", "90"} {
		t.Run("sm_"+arch, func(t *testing.T) {
			out := filepath.Join(t.TempDir(), "probe.cubin")
			cmd := exec.Command("nvcc", "-cubin", "-O3", "-std=c++14", "-Xptxas", "-v", "-arch=sm_"+arch, "-o", out, "testdata/mma_probe.cu")
			log, err := cmd.CombinedOutput()
			if err != nil {
				t.Fatalf("nvcc: %v\n%s", err, log)
			}
			checkNoSpills(t, string(log))
			sass, err := exec.Command("cuobjdump", "-sass", out).CombinedOutput()
			if err != nil {
				t.Fatalf("cuobjdump: %v\n%s", err, sass)
			}
			want := map[string]*regexp.Regexp{
				"mma m16n8k16 bf16": regexp.MustCompile(`HMMA\.16816\.F32\.BF16`),
				"mma m16n8k8 tf32":  regexp.MustCompile(`HMMA\.1688\.F32\.TF32`),
				"ldmatrix":          regexp.MustCompile(`LDSM\.16\.M88\.(2|4)`),
				"ldmatrix.trans":    regexp.MustCompile(`LDSM\.16\.MT88`),
				"cp.async":          regexp.MustCompile(`LDGSTS`),
				"cp.async groups":   regexp.MustCompile(`LDGDEPBAR|DEPBAR`),
				"cvt.rn.bf16.f32":   regexp.MustCompile(`F2FP\.BF16|F2F\.BF16`),
			}
			for what, re := range want {
				if !re.Match(sass) {
					t.Errorf("sm_%s: no %s instruction (%s) in the probe's SASS", arch, what, re)
				}
			}
		})
	}
}

// checkNoSpills fails on any ptxas "N bytes spill stores/loads" with N > 0.
func checkNoSpills(t *testing.T, ptxas string) {
	t.Helper()
	re := regexp.MustCompile(`(\d+) bytes spill (stores|loads)`)
	fn := ""
	for _, line := range strings.Split(ptxas, "\n") {
		if i := strings.Index(line, "Compiling entry function '"); i >= 0 {
			fn = strings.SplitN(line[i+len("Compiling entry function '"):], "'", 2)[0]
		}
		for _, m := range re.FindAllStringSubmatch(line, -1) {
			if m[1] != "0" {
				t.Errorf("%s spills: %s", fn, strings.TrimSpace(line))
			}
		}
	}
}

// TestTensorCoreKernelsSASS checks the tensor-core GEMM kernels of the
// embedded fatbin (simclr.fatbin, built by make kernels) on sm_80 and
// sm_90: their SASS has the mma of their format (HMMA.16816.F32.BF16 for
// the bf16 rung, HMMA.1688.F32.TF32 for the tf32 rung), their fragment
// loads (LDSM.16.M88.4; the K-major bf16 filter gradient transposed,
// LDSM.16.MT88.4; the K-major tf32 filter gradient plain 32-bit LDS,
// since ldmatrix.trans would split tf32 elements) and LDGSTS, their main
// loop (the loop with the most HMMA) has no integer division, and no
// kernel of the image uses local memory (a spill) or a stack. It needs
// cuobjdump and skips without it.
func TestTensorCoreKernelsSASS(t *testing.T) {
	if _, err := exec.LookPath("cuobjdump"); err != nil {
		t.Skip("cuobjdump not found: the SASS check needs the CUDA toolkit")
	}
	if _, err := os.Stat("simclr.fatbin"); err != nil {
		t.Skip("no internal/backend/cuda/simclr.fatbin: make kernels builds it (make test does when nvcc is installed)")
	}
	mma := map[string]string{"bf16": `HMMA\.16816\.F32\.BF16`, "tf32": `HMMA\.1688\.F32\.TF32`}
	// Each kernel's fragment load: ldmatrix for the NT core, transposed
	// for the K-major bf16 core, 32-bit LDS for the K-major tf32 core.
	frag := func(f, base string) string {
		switch {
		case base != "conv2d_bwd_filter":
			return `LDSM\.16\.M88\.4`
		case f == "bf16":
			return `LDSM\.16\.MT88\.4`
		}
		return `\bLDS\b`
	}
	type want struct{ hmma, frag string }
	tc := map[string]want{}
	for _, f := range []string{"bf16", "tf32"} {
		for _, base := range []string{"gemm_nt", "conv2d_fwd", "conv2d_bwd_data", "conv2d_bwd_filter"} {
			for _, suf := range []string{"_tc", "_tc_s", "_tc_tap", "_tc_tap_s"} {
				if base == "gemm_nt" && strings.Contains(suf, "tap") {
					continue
				}
				tc[base+"_"+f+suf] = want{mma[f], frag(f, base)}
			}
		}
	}
	for _, arch := range []string{"sm_80", "sm_90"} {
		t.Run(arch, func(t *testing.T) {
			for k, w := range tc {
				sass, err := exec.Command("cuobjdump", "-sass", "-arch", arch, "-fun", k, "simclr.fatbin").CombinedOutput()
				if err != nil {
					t.Fatalf("cuobjdump -fun %s: %v\n%s", k, err, sass)
				}
				// The mma, the fragment loads and the copies are in the
				// main loop (the loop with the most HMMA).
				loop, hmma := mainLoopSASS(string(sass))
				if hmma == 0 {
					t.Errorf("%s %s: no loop with HMMA in its SASS", arch, k)
				}
				for _, re := range []*regexp.Regexp{regexp.MustCompile(w.hmma), regexp.MustCompile(w.frag), regexp.MustCompile(`LDGSTS\.E\.BYPASS\.128`)} {
					if !re.MatchString(loop) {
						t.Errorf("%s %s: no %s in its main loop", arch, k, re)
					}
				}
				if div := intDivision.FindString(loop); div != "" {
					t.Errorf("%s %s: integer division (%s) in the main loop", arch, k, div)
				}
			}
			res, err := exec.Command("cuobjdump", "-res-usage", "-arch", arch, "simclr.fatbin").CombinedOutput()
			if err != nil {
				t.Fatalf("cuobjdump -res-usage: %v\n%s", err, res)
			}
			fn, seen := "", 0
			usage := regexp.MustCompile(`STACK:(\d+) .*LOCAL:(\d+)`)
			for _, line := range strings.Split(string(res), "\n") {
				if f, ok := strings.CutPrefix(strings.TrimSpace(line), "Function "); ok {
					fn = strings.TrimSuffix(f, ":")
					continue
				}
				if m := usage.FindStringSubmatch(line); m != nil {
					seen++
					if m[1] != "0" || m[2] != "0" {
						t.Errorf("%s %s: stack %s bytes, local %s bytes (a spill)", arch, fn, m[1], m[2])
					}
				}
			}
			if seen < len(tc) {
				t.Fatalf("cuobjdump -res-usage listed %d functions for %s", seen, arch)
			}
		})
	}
}

// intDivision matches the start of nvcc's integer division (and modulo)
// sequence by a run-time divisor: the reciprocal of the divisor.
var intDivision = regexp.MustCompile(`I2F(\.U32)?\.RP|MUFU\.RCP`)

var (
	sassInst = regexp.MustCompile(`^\s*/\*([0-9a-f]{4,})\*/\s+(.*?)\s*;`)
	sassBra  = regexp.MustCompile(`\bBRA\s+(?:` + "`" + `\()?0x([0-9a-f]+)`)
)

// mainLoopSASS returns the instructions of the kernel's main loop (of the
// backward branches, the loop with the most HMMA, the smallest of those)
// as text, and its HMMA count.
func mainLoopSASS(sass string) (string, int) {
	type inst struct {
		addr int64
		text string
	}
	var insts []inst
	for _, line := range strings.Split(sass, "\n") {
		if m := sassInst.FindStringSubmatch(line); m != nil {
			a, _ := strconv.ParseInt(m[1], 16, 64)
			insts = append(insts, inst{a, m[2]})
		}
	}
	best, bestLen, body := 0, int64(-1), ""
	for _, br := range insts {
		m := sassBra.FindStringSubmatch(br.text)
		if m == nil {
			continue
		}
		target, _ := strconv.ParseInt(m[1], 16, 64)
		if target >= br.addr {
			continue
		}
		var b strings.Builder
		n := 0
		for _, in := range insts {
			if in.addr >= target && in.addr <= br.addr {
				b.WriteString(in.text + "\n")
				if strings.Contains(in.text, "HMMA") {
					n++
				}
			}
		}
		if n > best || (n == best && n > 0 && br.addr-target < bestLen) {
			best, bestLen, body = n, br.addr-target, b.String()
		}
	}
	return body, best
}

// TestMainLoopSASS: mainLoopSASS picks the loop with the most HMMA and
// intDivision finds a division in it, not one outside it.
func TestMainLoopSASS(t *testing.T) {
	const head = `        /*0000*/                   S2R R0, SR_TID.X ;                  /* 0x000000 */
        /*0010*/                   I2F.U32.RP R1, R0 ;                 /* 0x000000 */
        /*0020*/                   IMAD R2, R0, R0, RZ ;               /* 0x000000 */
        /*0030*/                   HMMA.16816.F32.BF16 R4, R8, R12, R4 ;  /* 0x000000 */
        /*0040*/                   @P0 BRA 0x20 ;                      /* 0x000000 */
        /*0050*/                   IADD3 R3, R3, 0x1, RZ ;             /* 0x000000 */
`
	cases := []struct {
		name, sass string
		hmma       int
		div        bool
	}{
		{"division before the loop", head + `        /*0060*/                   EXIT ;                              /* 0x000000 */
`, 1, false},
		{"division in the loop", head + `        /*0060*/                   MUFU.RCP R5, R1 ;                   /* 0x000000 */
        /*0070*/                   HMMA.16816.F32.BF16 R4, R8, R12, R4 ;  /* 0x000000 */
        /*0080*/                   HMMA.16816.F32.BF16 R4, R8, R12, R4 ;  /* 0x000000 */
        /*0090*/                   @P1 BRA 0x50 ;                      /* 0x000000 */
`, 2, true},
		{"the loop with more HMMA", head + `        /*0060*/                   HMMA.16816.F32.BF16 R4, R8, R12, R4 ;  /* 0x000000 */
        /*0070*/                   I2F.RP R5, R1 ;                     /* 0x000000 */
        /*0080*/                   @P1 BRA 0x0 ;                       /* 0x000000 */
`, 2, true},
	}
	for _, c := range cases {
		loop, n := mainLoopSASS(c.sass)
		if n != c.hmma || (intDivision.FindString(loop) != "") != c.div {
			t.Errorf("%s: %d HMMA, division %q; want %d HMMA, division %v\n%s", c.name, n, intDivision.FindString(loop), c.hmma, c.div, loop)
		}
	}
}
