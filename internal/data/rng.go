package data

import "math/rand/v2"

// splitmix64 is the SplitMix64 finaliser: a bijective 64-bit mixer whose
// output bits each depend on every input bit.
func splitmix64(x uint64) uint64 {
	x += 0x9e3779b97f4a7c15
	x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9
	x = (x ^ (x >> 27)) * 0x94d049bb133111eb
	return x ^ (x >> 31)
}

// mix hashes a sequence of values into one 64-bit seed. Different orders or
// lengths give unrelated results.
func mix(vals ...uint64) uint64 {
	h := uint64(0x6a09e667f3bcc909)
	for _, v := range vals {
		h = splitmix64(h ^ splitmix64(v+uint64(len(vals))))
	}
	return h
}

// Domain tags keep the streams of different uses apart.
const (
	tagView    = 0x76696577 // "view"
	tagShuffle = 0x73687566 // "shuf"
	tagImage   = 0x696d6167 // "imag"
	tagLabel   = 0x6c61626c // "labl"
	tagSplit   = 0x73706c74 // "splt"
)

// ViewRNG returns the generator used for (epoch, image index, view): derived
// by hashing (seed, epoch, index, view) so the same views come out whatever
// the number of workers.
func ViewRNG(seed int64, epoch, index, view int) *rand.Rand {
	s, e, i, v := uint64(seed), uint64(epoch), uint64(index), uint64(view)
	return rand.New(rand.NewPCG(mix(tagView, s, e, i, v), mix(tagView+1, s, e, i, v)))
}

// shuffleRNG returns the generator for the permutation of one epoch.
func shuffleRNG(seed int64, epoch int) *rand.Rand {
	s, e := uint64(seed), uint64(epoch)
	return rand.New(rand.NewPCG(mix(tagShuffle, s, e), mix(tagShuffle+1, s, e)))
}
