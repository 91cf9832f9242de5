//go:build !race

package consumer

// raceEnabled is false without the race detector.
const raceEnabled = false
