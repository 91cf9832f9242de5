//go:build race

package browsertest

// raceEnabled: the browser test drives other processes, so the race
// detector adds nothing to it and it skips.
const raceEnabled = true
