//go:build race

package featurestore

// raceEnabled reports whether the race detector is on.
const raceEnabled = true
