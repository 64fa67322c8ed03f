package compose

import (
	"os"
	"path/filepath"
	"testing"
)

func TestFingerprintSeesEveryInput(t *testing.T) {
	dir := writeRepo(t, map[string]string{"a.yaml": "1", "compose/x/y.txt": "2"})
	opts := RenderOptions{ModelToken: "m", DefaultToken: "d"}
	base, err := Fingerprint(dir, nil, opts, "b")
	if err != nil {
		t.Fatal(err)
	}
	if again, _ := Fingerprint(dir, nil, opts, "b"); again != base {
		t.Fatal("fingerprint is not deterministic")
	}
	for what, fp := range map[string]func() string{
		"environment": func() string { f, _ := Fingerprint(dir, map[string]string{"X": "1"}, opts, "b"); return f },
		"token":       func() string { o := opts; o.DefaultToken = "rotated"; f, _ := Fingerprint(dir, nil, o, "b"); return f },
		"build":       func() string { f, _ := Fingerprint(dir, nil, opts, "other"); return f },
	} {
		if fp() == base {
			t.Errorf("the %s is not part of the fingerprint", what)
		}
	}
	os.WriteFile(filepath.Join(dir, "compose/x/y.txt"), []byte("3"), 0o644)
	after, _ := Fingerprint(dir, nil, opts, "b")
	if after == base {
		t.Error("a nested file change kept the fingerprint")
	}
	os.MkdirAll(filepath.Join(dir, ".git"), 0o755)
	os.WriteFile(filepath.Join(dir, ".git", "HEAD"), []byte("x"), 0o644)
	if again, _ := Fingerprint(dir, nil, opts, "b"); again != after {
		t.Error(".git changed the fingerprint")
	}
}
