//go:build linux

package graph

import (
	"unsafe"

	"golang.org/x/sys/unix"
)

// hugePage is the x86-64 and arm64 transparent huge page size.
const hugePage = 2 << 20

// AdviseHugePages asks the kernel to back the 2 MiB-aligned interior of s's
// capacity with transparent huge pages (THP in "madvise" or "always" mode).
// Call it right after allocating a large CSR array and before filling it:
// pages faulted in afterwards come as huge pages. A walk reads random rows
// of arrays far larger than what the TLB covers with 4 KiB pages, so nearly
// every read costs a page walk (two levels of them in a virtual machine);
// huge pages remove most of those. The advice is only a hint: where the
// kernel refuses it (THP off, or not built in) nothing changes, so its
// error is dropped. Elsewhere than Linux it does nothing.
func AdviseHugePages(s []uint32) {
	size := uintptr(cap(s)) * 4
	if size < hugePage {
		return
	}
	base := unsafe.Pointer(unsafe.SliceData(s))
	p := uintptr(base)
	lo := (p + hugePage - 1) &^ (hugePage - 1)
	hi := (p + size) &^ (hugePage - 1)
	if hi <= lo {
		return
	}
	_ = unix.Madvise(unsafe.Slice((*byte)(unsafe.Add(base, lo-p)), hi-lo), unix.MADV_HUGEPAGE)
}
