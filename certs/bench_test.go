package certs

import (
	"strconv"
	"testing"
)

// BenchmarkLeafCached measures the hot path: a host already in the cache.
func BenchmarkLeafCached(b *testing.B) {
	ca, _ := newTestCA(b)
	m := NewMinter(ca, Options{})
	if _, err := m.Leaf("api.example.com:443"); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := m.Leaf("api.example.com:443"); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkLeafCachedParallel measures the hot path under contention.
func BenchmarkLeafCachedParallel(b *testing.B) {
	ca, _ := newTestCA(b)
	m := NewMinter(ca, Options{})
	if _, err := m.Leaf("api.example.com"); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, err := m.Leaf("api.example.com"); err != nil {
				b.Error(err)
				return
			}
		}
	})
}

// BenchmarkLeafMint measures a cache miss: every iteration asks for a new
// host, so each one generates a key and signs a certificate.
func BenchmarkLeafMint(b *testing.B) {
	ca, _ := newTestCA(b)
	m := NewMinter(ca, Options{})
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		i++
		if _, err := m.Leaf("h" + strconv.Itoa(i) + ".example.com"); err != nil {
			b.Fatal(err)
		}
	}
	if minted, _ := m.Stats(); minted != uint64(i) {
		b.Fatalf("minted %d leaves in %d iterations", minted, i)
	}
}
