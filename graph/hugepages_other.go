//go:build !linux

package graph

// AdviseHugePages asks Linux for transparent huge pages under s; elsewhere
// it does nothing.
func AdviseHugePages(s []uint32) {}
