package needs

import (
	"os"
	"os/exec"
	"strings"
	"testing"
)

// TestMissing runs a test that lacks something, in and out of CI, in a child process:
// it skips outside CI and fails in it.
func TestMissing(t *testing.T) {
	if os.Getenv("NEEDS_CHILD") == "1" {
		Missing(t, "no %s here", "widget")
		return
	}
	for _, tc := range []struct{ ci, want string }{{"", "--- SKIP"}, {"true", "--- FAIL"}} {
		cmd := exec.Command(os.Args[0], "-test.run=^TestMissing$", "-test.v")
		cmd.Env = append(os.Environ(), "NEEDS_CHILD=1", "CI="+tc.ci)
		out, _ := cmd.CombinedOutput()
		if !strings.Contains(string(out), tc.want) || !strings.Contains(string(out), "no widget here") {
			t.Errorf("CI=%q: want %s saying what is missing:\n%s", tc.ci, tc.want, out)
		}
	}
}
