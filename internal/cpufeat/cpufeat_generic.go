//go:build !amd64 || purego

package cpufeat

// has is false off amd64 (or with the purego tag): no kernel runs.
func has(Feature) bool { return false }
