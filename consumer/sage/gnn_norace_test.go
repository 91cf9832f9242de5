//go:build !race

package sage

// raceEnabled is false without the race detector.
const raceEnabled = false
