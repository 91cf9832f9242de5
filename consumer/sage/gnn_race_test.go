//go:build race

package sage

// raceEnabled: the race detector makes sync.Pool drop items, so pooled
// code allocates and allocation counts mean nothing.
const raceEnabled = true
