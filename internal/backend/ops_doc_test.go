package backend_test

import (
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"strings"
	"testing"

	"simclr/internal/backend"
)

// repoRoot is the repository root, two levels above this package.
const repoRoot = "../.."

// opsRow is one row of a table in docs/ops.md.
type opsRow struct {
	line  int
	cells []string // method, family, cpu, cuda, kernels, shape inference, tests, golden
}

// readOpsTable returns the rows of docs/ops.md's op tables (those whose
// first cell is a backticked name).
func readOpsTable(t *testing.T) []opsRow {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(repoRoot, "docs", "ops.md"))
	if err != nil {
		t.Fatal(err)
	}
	var rows []opsRow
	for i, line := range strings.Split(string(data), "\n") {
		if !strings.HasPrefix(line, "| `") {
			continue
		}
		cells := strings.Split(strings.Trim(line, "|"), "|")
		for j := range cells {
			cells[j] = strings.TrimSpace(cells[j])
		}
		if len(cells) != 8 {
			t.Errorf("docs/ops.md:%d: %d cells, want 8: %s", i+1, len(cells), line)
			continue
		}
		rows = append(rows, opsRow{line: i + 1, cells: cells})
	}
	return rows
}

var backticked = regexp.MustCompile("`([^`]+)`")

// names returns the backticked names in a cell.
func names(cell string) []string {
	var out []string
	for _, m := range backticked.FindAllStringSubmatch(cell, -1) {
		out = append(out, m[1])
	}
	return out
}

// files returns the Go file names in a cell ("a.go, b.go (note)").
func files(cell string) []string {
	var out []string
	for _, f := range regexp.MustCompile(`[a-z0-9_]+\.go`).FindAllString(cell, -1) {
		out = append(out, f)
	}
	return out
}

// TestOpsDocCoversBackend keeps docs/ops.md true: one row per Backend
// method and no row for anything else; the cpu, cuda and test files it
// names exist; the shape-inference functions it names are defined in
// shapes.go; and its kernels are exactly those of kernels/kernel_names.h.
func TestOpsDocCoversBackend(t *testing.T) {
	rows := readOpsTable(t)
	iface := reflect.TypeOf((*backend.Backend)(nil)).Elem()
	seen := map[string]int{}
	shapesSrc, err := os.ReadFile("shapes.go")
	if err != nil {
		t.Fatal(err)
	}
	kernelList, err := os.ReadFile(filepath.Join(repoRoot, "kernels", "kernel_names.h"))
	if err != nil {
		t.Fatal(err)
	}
	kernels := map[string]bool{}
	for _, m := range regexp.MustCompile(`(?m)^SIMCLR_KERNEL\((\w+)\)`).FindAllStringSubmatch(string(kernelList), -1) {
		kernels[m[1]] = true
	}
	if len(kernels) == 0 {
		t.Fatal("no SIMCLR_KERNEL lines in kernels/kernel_names.h")
	}
	documented := map[string]bool{}
	exists := func(r opsRow, path string) {
		if _, err := os.Stat(filepath.Join(repoRoot, path)); err != nil {
			t.Errorf("docs/ops.md:%d: %s does not exist", r.line, path)
		}
	}
	for _, r := range rows {
		method := names(r.cells[0])
		if len(method) != 1 {
			t.Errorf("docs/ops.md:%d: first cell %q names no method", r.line, r.cells[0])
			continue
		}
		m := method[0]
		seen[m]++
		if _, ok := iface.MethodByName(m); !ok {
			t.Errorf("docs/ops.md:%d: %s is not a backend.Backend method", r.line, m)
		}
		for _, f := range files(r.cells[2]) {
			exists(r, "internal/backend/cpu/"+f)
		}
		for _, f := range files(r.cells[3]) {
			exists(r, "internal/backend/cuda/"+f)
		}
		if kc := r.cells[4]; kc != "—" && !strings.HasPrefix(kc, "— ") {
			file, _, _ := strings.Cut(kc, ":")
			exists(r, "kernels/"+file)
			for _, k := range names(kc) {
				documented[k] = true
				if !kernels[k] {
					t.Errorf("docs/ops.md:%d: kernel %s is not in kernels/kernel_names.h", r.line, k)
				}
			}
		}
		for _, fn := range names(r.cells[5]) {
			if !strings.Contains(string(shapesSrc), "\nfunc "+fn+"(") {
				t.Errorf("docs/ops.md:%d: shape inference %s is not defined in internal/backend/shapes.go", r.line, fn)
			}
		}
		cpuTests, cudaTests, ok := strings.Cut(r.cells[6], ";")
		if !ok {
			t.Errorf("docs/ops.md:%d: tests cell %q is not \"cpu files; cuda files\"", r.line, r.cells[6])
		}
		for _, f := range files(cpuTests) {
			exists(r, "internal/backend/cpu/"+f)
		}
		for _, f := range files(cudaTests) {
			exists(r, "internal/backend/cuda/"+f)
		}
	}
	for i := 0; i < iface.NumMethod(); i++ {
		m := iface.Method(i).Name
		if seen[m] != 1 {
			t.Errorf("backend.Backend.%s has %d rows in docs/ops.md, want 1", m, seen[m])
		}
	}
	for k := range kernels {
		if !documented[k] {
			t.Errorf("kernel %s (kernels/kernel_names.h) is in no row of docs/ops.md", k)
		}
	}
}
