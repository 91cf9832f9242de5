package trainer

import (
	"bufio"
	"fmt"
	"os"
	"strconv"
	"strings"

	"github.com/trainerd/trainerd/obs"
)

// memoryBudget is how much of the memory the machine reports as available a
// model may take up front: the rest is left to the producers' caches, the
// store and the evaluator.
const memoryBudget = 0.8

// checkModelMemory refuses a model whose up-front allocations (estimate
// bytes, from config.ParamBytes) do not fit in avail bytes of available
// memory, before anything is allocated. avail 0 means unknown: no check.
func checkModelMemory(estimate, avail int64, dim, users, items int) error {
	if avail <= 0 || float64(estimate) <= memoryBudget*float64(avail) {
		return nil
	}
	return fmt.Errorf("trainer: model.dim %d over %d users and %d items needs about %s for parameters and "+
		"optimiser state, more than %.0f%% of the %s of memory available: lower model.dim (or model.hidden)",
		dim, users, items, obs.FormatBytes(estimate), memoryBudget*100, obs.FormatBytes(avail))
}

// availableMemory is the memory the process can still use: the smaller of
// /proc/meminfo's MemAvailable and the cgroup's limit less its usage. 0 when
// neither can be read.
func availableMemory() int64 {
	avail := memAvailable("/proc/meminfo")
	if lim := cgroupRoom("/sys/fs/cgroup/memory.max", "/sys/fs/cgroup/memory.current"); lim > 0 && (avail == 0 || lim < avail) {
		avail = lim
	}
	return avail
}

// memAvailable reads MemAvailable (kB) from a meminfo file; 0 when absent.
func memAvailable(path string) int64 {
	f, err := os.Open(path)
	if err != nil {
		return 0
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) >= 2 && fields[0] == "MemAvailable:" {
			kb, err := strconv.ParseInt(fields[1], 10, 64)
			if err != nil {
				return 0
			}
			return kb << 10
		}
	}
	return 0
}

// cgroupRoom is a cgroup v2 memory limit less the current usage; 0 when
// there is no limit or the files cannot be read.
func cgroupRoom(maxPath, curPath string) int64 {
	read := func(p string) (int64, bool) {
		b, err := os.ReadFile(p)
		if err != nil {
			return 0, false
		}
		v, err := strconv.ParseInt(strings.TrimSpace(string(b)), 10, 64)
		return v, err == nil
	}
	lim, ok := read(maxPath) // "max" when unlimited: ok is false
	if !ok {
		return 0
	}
	cur, _ := read(curPath)
	return max(lim-cur, 1)
}
