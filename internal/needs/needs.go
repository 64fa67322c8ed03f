// Package needs is the one rule for a test that lacks something of the machine (a
// Docker Engine, Compose v2, sshd, root for a tmpfs): outside CI it is skipped, saying
// what to install; in CI (any non-empty $CI) it fails, since .ci/run provides it all
// and a skip there would hide a test that never ran.
package needs

import (
	"fmt"
	"os"
	"testing"
)

// Missing skips the test (or benchmark) saying what it lacks, or fails it in CI.
func Missing(t testing.TB, format string, args ...any) {
	t.Helper()
	why := fmt.Sprintf(format, args...)
	if os.Getenv("CI") != "" {
		t.Fatalf("%s (CI must provide it: see .ci/run)", why)
	}
	t.Skip(why)
}
