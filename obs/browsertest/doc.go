// Package browsertest holds the status page's browser test: it starts a real
// trainer (the trainerd binary on the tiny generated data set) and loads the
// page at / in Debian's headless Chromium, checking what the page shows, its
// screenshot and the browser console. The test skips when no chromium (or
// chromium-browser) is on PATH; scripts/install-deps.sh installs it.
package browsertest
