package config

import (
	"fmt"
	"strings"
)

// suggestKey returns the valid key (or section name) closest to the unknown
// key, quoted, or "" when none is reasonably close. A key whose last part
// matches a valid key's last part ("train.lr" for "optim.lr") counts as close.
func suggestKey(unknown string) string {
	best, bestScore := "", 1<<30
	consider := func(cand string) {
		if s, ok := keyDistance(unknown, cand); ok && s < bestScore {
			best, bestScore = cand, s
		}
	}
	for _, k := range schema {
		consider(k.key)
	}
	for s := range sections {
		consider(s)
	}
	if best == "" {
		return ""
	}
	return fmt.Sprintf("%q", best)
}

// suggestEnv returns the valid environment variable closest to name, with
// its key, or "".
func suggestEnv(name string) string {
	best, bestScore := "", 1<<30
	for _, k := range schema {
		if s := levenshtein(name, EnvVar(k.key)); s < bestScore {
			best, bestScore = k.key, s
		}
	}
	if bestScore > max(2, len(name)/4) {
		return ""
	}
	return fmt.Sprintf("%s (key %s)", EnvVar(best), best)
}

// keyDistance scores how close cand is to the unknown key (lower is closer)
// and whether it is close enough to suggest: either the whole key is within
// a third of its length in edits, or the last parts are (scored one worse).
func keyDistance(unknown, cand string) (int, bool) {
	u := strings.ToLower(unknown)
	best, ok := levenshtein(u, cand), false
	ok = best <= max(2, len(u)/3)
	ul, cl := lastPart(u), lastPart(cand)
	if ul != u || cl != cand {
		if d := levenshtein(ul, cl); d <= max(1, len(ul)/3) && (!ok || d+1 < best) {
			best, ok = d+1, true
		}
	}
	return best, ok
}

func lastPart(key string) string {
	if i := strings.LastIndexByte(key, '.'); i >= 0 {
		return key[i+1:]
	}
	return key
}

// levenshtein is the edit distance between a and b (bytes).
func levenshtein(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}
