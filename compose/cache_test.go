package compose

import "testing"

func TestFingerprintSeesEveryInput(t *testing.T) {
	dir := writeRepo(t, map[string]string{"a.yaml": "1", "compose/x/y.txt": "2"})
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
		"environment": func() string { return fingerprint(map[string]string{"X": "1"}, opts, "b") },
		"token":       func() string { o := opts; o.DefaultToken = "rotated"; return fingerprint(nil, o, "b") },
		"build":       func() string { return fingerprint(nil, opts, "other") },
	} {
		if fp() == base {
			t.Errorf("the %s is not part of the fingerprint", what)
		}
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
