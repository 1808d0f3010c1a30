package main

import (
	"bufio"
	"fmt"
	"io"
	"regexp"
	"sort"
	"strconv"
	"strings"
)

// Inst is one SASS instruction as cuobjdump -sass prints it.
type Inst struct {
	Addr   int
	Pred   string // "@P0", "@!P0" or ""
	Opcode string // with modifiers, e.g. "LDG.E.128"
	Text   string // the whole instruction text, predicate included
	Target int    // branch target address, -1 when not a direct branch
}

// Base is the opcode without modifiers ("LDG").
func (in Inst) Base() string {
	b, _, _ := strings.Cut(in.Opcode, ".")
	return b
}

// Kernel is one function of one architecture's SASS.
type Kernel struct {
	Name  string
	Arch  string // "sm_90"
	Insts []Inst
	// Undecoded counts instructions this cuobjdump printed only as
	// encodings (nvcc 11.8's cuobjdump leaves some sm_90 opcodes blank);
	// their addresses are the gaps between decoded ones.
	Undecoded int
	// Size is the code size in bytes (last address + 16).
	Size int
}

var (
	instRE   = regexp.MustCompile(`^\s*/\*([0-9a-f]{4,})\*/\s+(.*?)\s*;\s*/\*\s*0x[0-9a-f]+\s*\*/\s*$`)
	funcRE   = regexp.MustCompile(`^\s*Function\s*:\s*(\S+)`)
	archRE   = regexp.MustCompile(`^\s*code for (sm_\d+)`)
	targetRE = regexp.MustCompile(`\b(?:BRA|BRX|JMP|CALL\.REL(?:\.NOINC)?|BSSY\s+B\d+,|SSY|PBK)\s+(?:` + "`" + `\()?(0x[0-9a-f]+)`)
)

// ParseSASS reads cuobjdump -sass output: every function of every
// architecture in it, in order.
func ParseSASS(r io.Reader) ([]Kernel, error) {
	var out []Kernel
	var cur *Kernel
	arch := ""
	flush := func() {
		if cur != nil {
			finish(cur)
			out = append(out, *cur)
			cur = nil
		}
	}
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if m := archRE.FindStringSubmatch(line); m != nil {
			flush()
			arch = m[1]
			continue
		}
		if m := funcRE.FindStringSubmatch(line); m != nil {
			flush()
			cur = &Kernel{Name: m[1], Arch: arch}
			continue
		}
		if cur == nil {
			continue
		}
		m := instRE.FindStringSubmatch(line)
		if m == nil {
			continue
		}
		addr, err := strconv.ParseInt(m[1], 16, 64)
		if err != nil {
			return nil, fmt.Errorf("sass: address %q: %w", m[1], err)
		}
		in := Inst{Addr: int(addr), Text: m[2], Target: -1}
		rest := m[2]
		if strings.HasPrefix(rest, "@") {
			in.Pred, rest, _ = strings.Cut(rest, " ")
			rest = strings.TrimSpace(rest)
		}
		in.Opcode, _, _ = strings.Cut(rest, " ")
		if t := targetRE.FindStringSubmatch(rest); t != nil && (in.Base() == "BRA" || in.Base() == "JMP") {
			v, _ := strconv.ParseInt(strings.TrimPrefix(t[1], "0x"), 16, 64)
			in.Target = int(v)
		}
		cur.Insts = append(cur.Insts, in)
	}
	if err := sc.Err(); err != nil {
		return nil, err
	}
	flush()
	return out, nil
}

// finish fills the undecoded count from the address gaps (instructions
// are 16 bytes from sm_70 on).
func finish(k *Kernel) {
	sort.Slice(k.Insts, func(i, j int) bool { return k.Insts[i].Addr < k.Insts[j].Addr })
	prev := -16
	for _, in := range k.Insts {
		k.Undecoded += (in.Addr-prev)/16 - 1
		prev = in.Addr
	}
	k.Size = prev + 16
}

// TF32 reports whether the kernel's mma is the tf32 one
// (HMMA.1688.F32.TF32, mma.sync m16n8k8 .tf32).
func (k *Kernel) TF32() bool {
	for _, in := range k.Insts {
		if strings.HasPrefix(in.Opcode, "HMMA.1688.F32.TF32") {
			return true
		}
	}
	return false
}

// HMMAMacs is the multiply-adds of one of the kernel's HMMA: 1024 for the
// tf32 m16n8k8, else 2048 (bf16 m16n8k16).
func (k *Kernel) HMMAMacs() int {
	if k.TF32() {
		return 1024
	}
	return 2048
}

// Loop is a backward branch's range [Start, End] (End is the branch).
type Loop struct{ Start, End int }

// Loops returns the kernel's loops, one per backward branch.
func (k *Kernel) Loops() []Loop {
	var ls []Loop
	for _, in := range k.Insts {
		if in.Target >= 0 && in.Target < in.Addr { // BRA to itself is the trap after EXIT
			ls = append(ls, Loop{in.Target, in.Addr})
		}
	}
	return ls
}

// Innermost returns the loops that contain no other loop.
func (k *Kernel) Innermost() []Loop {
	ls := k.Loops()
	var out []Loop
	for i, a := range ls {
		inner := true
		for j, b := range ls {
			if i != j && a.Start <= b.Start && b.End <= a.End && (a != b) {
				inner = false
				break
			}
		}
		if inner {
			out = append(out, a)
		}
	}
	return out
}

// Mix counts instructions by class.
type Mix map[string]int

// Total is the number of instructions.
func (m Mix) Total() int {
	n := 0
	for _, v := range m {
		n += v
	}
	return n
}

// classes maps an opcode base to its class in the table; others are
// "other". Integer division is counted separately by its I2F.U32.RP /
// I2F.RP marker (the first instruction of nvcc's division sequence).
var classes = map[string]string{
	"FFMA": "FFMA", "FMUL": "FP32", "FADD": "FP32", "FMNMX": "FP32", "FSEL": "FP32", "FSETP": "FP32", "FCHK": "FP32",
	"HMMA": "HMMA", "DFMA": "FP64", "DADD": "FP64", "DMUL": "FP64", "DSETP": "FP64",
	"LDG": "LDG", "STG": "STG", "LDS": "LDS", "STS": "STS", "LDGSTS": "LDGSTS", "LDSM": "LDSM",
	"BAR": "BAR", "SHFL": "SHFL", "MUFU": "MUFU",
	"IMAD": "INT", "IADD3": "INT", "ISETP": "INT", "LOP3": "INT", "SHF": "INT", "LEA": "INT", "IABS": "INT",
	"IMNMX": "INT", "SEL": "INT", "PRMT": "INT", "IMUL": "INT", "PLOP3": "INT", "VIADDMNMX": "INT", "VIADD": "INT",
	"BRA": "CTRL", "EXIT": "CTRL", "BSSY": "CTRL", "BSYNC": "CTRL", "CALL": "CTRL", "RET": "CTRL", "WARPSYNC": "CTRL",
	"NOP": "NOP",
	"F2F": "CVT", "I2F": "CVT", "F2I": "CVT", "I2FP": "CVT", "F2IP": "CVT",
	"LDC": "CONST", "ULDC": "CONST", "S2R": "CONST", "CS2R": "CONST", "S2UR": "CONST", "MOV": "MOV", "UMOV": "MOV",
}

// ClassOrder is the table's column order.
var ClassOrder = []string{"FFMA", "HMMA", "FP32", "FP64", "LDG", "STG", "LDS", "STS", "LDGSTS", "LDSM", "BAR", "SHFL", "MUFU", "IDIV", "INT", "CVT", "CTRL", "CONST", "MOV", "NOP", "other", "undecoded"}

// MixOf counts the instructions with addresses in [lo, hi] (undecoded
// ones from the address gaps).
func (k *Kernel) MixOf(lo, hi int) Mix {
	m := Mix{}
	prev := -1
	for _, in := range k.Insts {
		if in.Addr < lo || in.Addr > hi {
			continue
		}
		if prev >= 0 {
			if gap := (in.Addr-prev)/16 - 1; gap > 0 {
				m["undecoded"] += gap
			}
		} else if gap := (in.Addr - lo) / 16; gap > 0 {
			m["undecoded"] += gap
		}
		prev = in.Addr
		c, ok := classes[in.Base()]
		if !ok {
			if strings.HasPrefix(in.Base(), "U") {
				c = "INT" // uniform-datapath integer ops
			} else {
				c = "other"
			}
		}
		if strings.HasPrefix(in.Opcode, "I2F.U32.RP") || strings.HasPrefix(in.Opcode, "I2F.RP") {
			c = "IDIV"
		}
		m[c]++
	}
	return m
}

// All is the whole kernel's static mix.
func (k *Kernel) All() Mix { return k.MixOf(0, k.Size) }

// MainLoop picks the loop that carries the kernel's work: the loop with
// the most FFMA+HMMA (the smallest such loop: the GEMM kernels' unrolled
// k-step, which contains small tile-loading loops), else the innermost loop
// with the most global loads, else the longest innermost loop; ok is false
// for a kernel without loops.
func (k *Kernel) MainLoop() (l Loop, mix Mix, ok bool) {
	bestF, bestLen := 0, 0
	for _, c := range k.Loops() {
		m := k.MixOf(c.Start, c.End)
		f := m["FFMA"] + m["HMMA"]
		if f > bestF || (f == bestF && f > 0 && c.End-c.Start < bestLen) {
			bestF, bestLen, l, mix, ok = f, c.End-c.Start, c, m, true
		}
	}
	if ok {
		return
	}
	best := -1.0
	for _, c := range k.Innermost() {
		m := k.MixOf(c.Start, c.End)
		score := float64(m["LDG"])*1e3 + float64(m.Total())
		if score > best {
			best, l, mix, ok = score, c, m, true
		}
	}
	return
}
