package compose

import (
	"strings"
	"testing"
)

func TestFingerprintSeesEveryInput(t *testing.T) {
	dir := writeRepo(t, map[string]string{"a.yaml": "image: ${NAMED}", "compose/x/y.txt": "environment: [BARE]"})
	opts := RenderOptions{ModelToken: "m", DefaultToken: "d"}
	fingerprint := func(env map[string]string, opts RenderOptions, build string) string {
		t.Helper()
		f, err := Fingerprint(dir, env, opts, build)
		if err != nil {
			t.Fatalf("fingerprint: %v", err)
		}
		return f
	}
	base := fingerprint(nil, opts, "b")
	if again := fingerprint(nil, opts, "b"); again != base {
		t.Fatal("fingerprint is not deterministic")
	}
	for what, fp := range map[string]func() string{
		"variable named by ${}":          func() string { return fingerprint(map[string]string{"NAMED": "1"}, opts, "b") },
		"variable named by a bare entry": func() string { return fingerprint(map[string]string{"BARE": "1"}, opts, "b") },
		"COMPOSE_ variable":              func() string { return fingerprint(map[string]string{"COMPOSE_PROFILES": "x"}, opts, "b") },
		"token":                          func() string { o := opts; o.DefaultToken = "rotated"; return fingerprint(nil, o, "b") },
		"build":                          func() string { return fingerprint(nil, opts, "other") },
	} {
		if fp() == base {
			t.Errorf("the %s is not part of the fingerprint", what)
		}
	}
	// The shell's own variables, which no file names, do not count.
	if shell := fingerprint(map[string]string{"PWD": "/elsewhere", "_": "/usr/bin/strace", "SHLVL": "3"}, opts, "b"); shell != base {
		t.Error("variables no file names changed the fingerprint")
	}
	writeFiles(t, dir, map[string]string{"compose/x/y.txt": "3"})
	after := fingerprint(nil, opts, "b")
	if after == base {
		t.Error("a nested file change kept the fingerprint")
	}
	writeFiles(t, dir, map[string]string{".git/HEAD": "x"})
	if again := fingerprint(nil, opts, "b"); again != after {
		t.Error(".git changed the fingerprint")
	}
}

// TestFingerprintLargeFileCountsEveryVariable: a file too large to scan for names,
// unless it is gzip'd (a model), makes every variable count.
func TestFingerprintLargeFileCountsEveryVariable(t *testing.T) {
	for _, tt := range []struct {
		name  string
		head  string
		count bool
	}{{"text", "aa", true}, {"gzip", "\x1f\x8b", false}} {
		dir := writeRepo(t, map[string]string{"big.bin": tt.head + strings.Repeat("a", maxNameScan)})
		opts := RenderOptions{ModelToken: "m", DefaultToken: "d"}
		without, err1 := Fingerprint(dir, nil, opts, "b")
		with, err2 := Fingerprint(dir, map[string]string{"UNNAMED": "1"}, opts, "b")
		if err1 != nil || err2 != nil {
			t.Fatal(err1, err2)
		}
		if (with != without) != tt.count {
			t.Errorf("%s file: a variable no file names counts = %v, want %v", tt.name, with != without, tt.count)
		}
	}
}
