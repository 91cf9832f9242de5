package obs

import (
	"fmt"
	"math"
	"time"
)

// FormatBytes renders a byte count with a binary unit: "512 B", "6.2 MiB".
func FormatBytes(n int64) string {
	const unit = 1024
	if n > -unit && n < unit {
		return fmt.Sprintf("%d B", n)
	}
	sign := ""
	u := uint64(n)
	if n < 0 {
		sign, u = "-", uint64(-n)
	}
	div, exp := uint64(unit), 0
	for m := u / unit; m >= unit; m /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%s%.1f %ciB", sign, float64(u)/float64(div), "KMGTPE"[exp])
}

// FormatCount renders a count or rate with a k/M/G suffix: "950", "1.2k",
// "3.4M"; below 10 a fractional value keeps one decimal ("2.5").
func FormatCount(n float64) string {
	a := math.Abs(n)
	switch {
	case a >= 1e9:
		return fmt.Sprintf("%.1fG", n/1e9)
	case a >= 1e6:
		return fmt.Sprintf("%.1fM", n/1e6)
	case a >= 1e3:
		return fmt.Sprintf("%.1fk", n/1e3)
	case a < 10 && n != math.Trunc(n):
		return fmt.Sprintf("%.1f", n)
	}
	return fmt.Sprintf("%.0f", n)
}

// FormatETA renders a duration in whole seconds for a progress line: "7s",
// "2m05s", "3h04m" (negative durations as "0s").
func FormatETA(d time.Duration) string {
	s := int64(max(d, 0).Round(time.Second) / time.Second)
	switch {
	case s < 60:
		return fmt.Sprintf("%ds", s)
	case s < 3600:
		return fmt.Sprintf("%dm%02ds", s/60, s%60)
	}
	return fmt.Sprintf("%dh%02dm", s/3600, s%3600/60)
}
