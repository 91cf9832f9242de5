//go:build cuda

package cuda

/*
#include <cuda.h>
*/
import "C"

import (
	"fmt"
	"unsafe"

	"gorgonia.org/cu"
)

// F32 is a device array of float32 carved from an Arena.
type F32 struct {
	Ptr cu.DevicePtr
	N   int
}

// I32 is a device array of int32 carved from an Arena.
type I32 struct {
	Ptr cu.DevicePtr
	N   int
}

// F64 is a device array of float64 carved from an Arena.
type F64 struct {
	Ptr cu.DevicePtr
	N   int
}

// Slice returns elements [lo, hi) of a.
func (a F32) Slice(lo, hi int) F32 {
	if lo < 0 || hi > a.N || lo > hi {
		panic(fmt.Sprintf("cuda: F32 slice [%d:%d] of %d", lo, hi, a.N))
	}
	return F32{Ptr: a.Ptr + cu.DevicePtr(4*lo), N: hi - lo}
}

// Slice returns elements [lo, hi) of a.
func (a I32) Slice(lo, hi int) I32 {
	if lo < 0 || hi > a.N || lo > hi {
		panic(fmt.Sprintf("cuda: I32 slice [%d:%d] of %d", lo, hi, a.N))
	}
	return I32{Ptr: a.Ptr + cu.DevicePtr(4*lo), N: hi - lo}
}

// Arena is device memory allocated once (one cuMemAlloc) and handed out by
// a bump pointer, so a training step never allocates. Buffers live until
// Free. Not safe for concurrent use; call inside Device.Do.
type Arena struct {
	base cu.DevicePtr
	size int64
	off  int64
}

// arenaAlign is the alignment of every buffer (bytes).
const arenaAlign = 256

// NewArena allocates bytes of device memory (call inside Device.Do).
func NewArena(bytes int64) (*Arena, error) {
	if bytes <= 0 {
		return nil, fmt.Errorf("cuda: arena of %d bytes", bytes)
	}
	p, err := cu.MemAlloc(bytes)
	if err != nil {
		return nil, fmt.Errorf("cuda: allocate %d-byte arena: %w", bytes, err)
	}
	return &Arena{base: p, size: bytes}, nil
}

func (a *Arena) take(bytes int64) (cu.DevicePtr, error) {
	off := (a.off + arenaAlign - 1) / arenaAlign * arenaAlign
	if off+bytes > a.size {
		return 0, fmt.Errorf("cuda: arena exhausted: need %d bytes at offset %d of %d", bytes, off, a.size)
	}
	a.off = off + bytes
	return a.base + cu.DevicePtr(off), nil
}

// F32 takes n float32s.
func (a *Arena) F32(n int) (F32, error) {
	p, err := a.take(int64(max(n, 1)) * 4)
	return F32{Ptr: p, N: n}, err
}

// I32 takes n int32s.
func (a *Arena) I32(n int) (I32, error) {
	p, err := a.take(int64(max(n, 1)) * 4)
	return I32{Ptr: p, N: n}, err
}

// F64 takes n float64s.
func (a *Arena) F64(n int) (F64, error) {
	p, err := a.take(int64(max(n, 1)) * 8)
	return F64{Ptr: p, N: n}, err
}

// Used is the number of bytes handed out.
func (a *Arena) Used() int64 { return a.off }

// Free releases the arena's memory; every buffer from it becomes invalid.
func (a *Arena) Free() error {
	if a.base == 0 {
		return nil
	}
	err := cu.MemFree(a.base)
	a.base, a.off = 0, 0
	if err != nil {
		return fmt.Errorf("cuda: free arena: %w", err)
	}
	return nil
}

// Pinned is page-locked host memory (cuMemAllocHost): copies from it run
// asynchronously at full PCIe/NVLink speed. Its slices alias C memory and
// are valid until Free.
type Pinned struct {
	p     unsafe.Pointer
	bytes int
}

// NewPinned allocates bytes of pinned host memory (call inside Device.Do).
func NewPinned(bytes int) (*Pinned, error) {
	if bytes <= 0 {
		return nil, fmt.Errorf("cuda: pinned buffer of %d bytes", bytes)
	}
	var p unsafe.Pointer
	if r := C.cuMemAllocHost(&p, C.size_t(bytes)); r != C.CUDA_SUCCESS {
		return nil, fmt.Errorf("cuda: cuMemAllocHost(%d): CUresult %d", bytes, int(r))
	}
	return &Pinned{p: p, bytes: bytes}, nil
}

// Bytes is the buffer's size.
func (h *Pinned) Bytes() int { return h.bytes }

// F32 views bytes [off, off+4n) as float32s.
func (h *Pinned) F32(off, n int) []float32 {
	if off < 0 || off%4 != 0 || off+4*n > h.bytes {
		panic(fmt.Sprintf("cuda: pinned F32 view [%d,+%d) of %d bytes", off, 4*n, h.bytes))
	}
	return unsafe.Slice((*float32)(unsafe.Add(h.p, off)), n)
}

// I32 views bytes [off, off+4n) as int32s.
func (h *Pinned) I32(off, n int) []int32 {
	if off < 0 || off%4 != 0 || off+4*n > h.bytes {
		panic(fmt.Sprintf("cuda: pinned I32 view [%d,+%d) of %d bytes", off, 4*n, h.bytes))
	}
	return unsafe.Slice((*int32)(unsafe.Add(h.p, off)), n)
}

// Ptr is the address of byte off.
func (h *Pinned) Ptr(off int) unsafe.Pointer { return unsafe.Add(h.p, off) }

// Free releases the buffer.
func (h *Pinned) Free() error {
	if h.p == nil {
		return nil
	}
	r := C.cuMemFreeHost(h.p)
	h.p = nil
	if r != C.CUDA_SUCCESS {
		return fmt.Errorf("cuda: cuMemFreeHost: CUresult %d", int(r))
	}
	return nil
}

// UploadF32 copies src to dst and waits for the whole context (setup and
// tests only, not the hot path).
func UploadF32(dst F32, src []float32) error {
	if len(src) != dst.N {
		return fmt.Errorf("cuda: upload %d floats into %d", len(src), dst.N)
	}
	if len(src) == 0 {
		return nil
	}
	if err := cu.MemcpyHtoD(dst.Ptr, unsafe.Pointer(&src[0]), int64(4*len(src))); err != nil {
		return fmt.Errorf("cuda: upload %d floats: %w", len(src), err)
	}
	// A pageable copy may still be in flight when cuMemcpyHtoD returns, and
	// the non-blocking streams do not order after the legacy stream.
	if err := cu.Synchronize(); err != nil {
		return fmt.Errorf("cuda: upload %d floats: sync: %w", len(src), err)
	}
	return nil
}

// UploadI32 copies src to dst and waits for the whole context (setup only).
func UploadI32(dst I32, src []int32) error {
	if len(src) != dst.N {
		return fmt.Errorf("cuda: upload %d ints into %d", len(src), dst.N)
	}
	if len(src) == 0 {
		return nil
	}
	if err := cu.MemcpyHtoD(dst.Ptr, unsafe.Pointer(&src[0]), int64(4*len(src))); err != nil {
		return fmt.Errorf("cuda: upload %d ints: %w", len(src), err)
	}
	// A pageable copy may still be in flight when cuMemcpyHtoD returns, and
	// the non-blocking streams do not order after the legacy stream.
	if err := cu.Synchronize(); err != nil {
		return fmt.Errorf("cuda: upload %d ints: sync: %w", len(src), err)
	}
	return nil
}

// DownloadF32 copies src to dst synchronously (waits for prior work of the
// legacy stream only: synchronise the device streams first).
func DownloadF32(dst []float32, src F32) error {
	if len(dst) != src.N {
		return fmt.Errorf("cuda: download %d floats into %d", src.N, len(dst))
	}
	if len(dst) == 0 {
		return nil
	}
	if err := cu.MemcpyDtoH(unsafe.Pointer(&dst[0]), src.Ptr, int64(4*len(dst))); err != nil {
		return fmt.Errorf("cuda: download %d floats: %w", len(dst), err)
	}
	return nil
}

// DownloadF64 copies src to dst synchronously.
func DownloadF64(dst []float64, src F64) error {
	if len(dst) != src.N {
		return fmt.Errorf("cuda: download %d doubles into %d", src.N, len(dst))
	}
	if len(dst) == 0 {
		return nil
	}
	if err := cu.MemcpyDtoH(unsafe.Pointer(&dst[0]), src.Ptr, int64(8*len(dst))); err != nil {
		return fmt.Errorf("cuda: download %d doubles: %w", len(dst), err)
	}
	return nil
}

// DownloadI32 copies src to dst synchronously.
func DownloadI32(dst []int32, src I32) error {
	if len(dst) != src.N {
		return fmt.Errorf("cuda: download %d ints into %d", src.N, len(dst))
	}
	if len(dst) == 0 {
		return nil
	}
	if err := cu.MemcpyDtoH(unsafe.Pointer(&dst[0]), src.Ptr, int64(4*len(dst))); err != nil {
		return fmt.Errorf("cuda: download %d ints: %w", len(dst), err)
	}
	return nil
}

// DownloadStream waits for stream s, then copies src to dst.
func DownloadStream(s cu.Stream, dst []float32, src F32) error {
	if err := s.Synchronize(); err != nil {
		return fmt.Errorf("cuda: sync before download: %w", err)
	}
	return DownloadF32(dst, src)
}
