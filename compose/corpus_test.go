package compose

import (
	"context"
	"errors"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite golden files from the current output")

// corpusLimits are small so the corpus can show every limit with small files.
var corpusLimits = Limits{MaxFileSize: 4096, MaxNodes: 5000, MaxEnvironments: 20}

// TestInvalidCorpus runs Validate on every broken repository under testdata/invalid:
// each <case>/repo must be refused with exactly the lines of <case>/want.txt, and an
// optional <case>/env file supplies the daemon's variables.
func TestInvalidCorpus(t *testing.T) {
	cases, err := filepath.Glob("testdata/invalid/*")
	if err != nil {
		t.Fatal(err)
	}
	if len(cases) < 30 {
		t.Fatalf("the corpus has %d cases; it must keep at least 30", len(cases))
	}
	for _, dir := range cases {
		t.Run(filepath.Base(dir), func(t *testing.T) {
			env := map[string]string{}
			if _, err := os.Stat(filepath.Join(dir, "env")); err == nil {
				env, err = ReadEnvFile(filepath.Join(dir, "env"))
				if err != nil {
					t.Fatal(err)
				}
			}
			_, err := Validate(context.Background(), filepath.Join(dir, "repo"), LoadOptions{Env: env, Limits: corpusLimits})
			var problems Problems
			if !errors.As(err, &problems) {
				t.Fatalf("want a Problems error, got %v", err)
			}
			got := problems.Error() + "\n"
			for _, v := range env { // no variable's value may appear in a message
				if len(v) >= 6 && strings.Contains(got, v) {
					t.Errorf("a variable's value leaked into the problems:\n%s", got)
				}
			}
			wantFile := filepath.Join(dir, "want.txt")
			if *update {
				if err := os.WriteFile(wantFile, []byte(got), 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			want, err := os.ReadFile(wantFile)
			if err != nil {
				t.Fatalf("%v (run go test ./compose -run TestInvalidCorpus -update to create it)", err)
			}
			if got != string(want) {
				t.Errorf("problems differ from %s\n--- got\n%s--- want\n%s", wantFile, got, want)
			}
		})
	}
}
