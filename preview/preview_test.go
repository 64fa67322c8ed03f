package preview

import (
	"bytes"
	"context"
	"encoding/json"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/network"
	"github.com/docker/docker/api/types/volume"

	"github.com/rasa-gitops/rasa-gitops/internal/testgit"
	"github.com/rasa-gitops/rasa-gitops/pipeline"
	"github.com/rasa-gitops/rasa-gitops/state"
)

var quickstart = map[string]string{"production": "model: moodbot-v1\n", "experimental": "model: moodbot-v2\n", "worker": ""}

const weekdays = "environments:\n  production:\n    windows:\n      - allow: \"0 9 * * 1-5\"\n        duration: 8h\n"

// hostSnapshot is everything a preview must leave as it is: the Engine's containers,
// networks and volumes (inspected), the tag table, the model store and the state
// directory's files other than the SQLite database.
func hostSnapshot(t *testing.T, f *fixture) string {
	t.Helper()
	ctx := context.Background()
	var b bytes.Buffer
	list, err := f.engine.ContainerList(ctx, container.ListOptions{All: true})
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range list {
		info, err := f.engine.ContainerInspect(ctx, c.ID)
		if err != nil {
			t.Fatal(err)
		}
		json.NewEncoder(&b).Encode(info)
	}
	nets, _ := f.engine.NetworkList(ctx, network.ListOptions{})
	vols, _ := f.engine.VolumeList(ctx, volume.ListOptions{})
	json.NewEncoder(&b).Encode([]any{nets, vols, f.tags.Snapshot()})
	filepath.WalkDir(f.stateDir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || strings.HasPrefix(d.Name(), "state.") {
			return err
		}
		info, _ := d.Info()
		b.WriteString(strings.TrimPrefix(p, f.stateDir) + " " + info.Mode().String() + " " + info.ModTime().String())
		if !d.IsDir() {
			data, _ := os.ReadFile(p)
			b.Write(data)
		}
		b.WriteByte('\n')
		return nil
	})
	return b.String()
}

// TestPreviewChangesNothingAndPredictsTheRun: on a converged host, the preview of a
// revision that promotes production (held by its window), recreates experimental on
// a new image, adds staging and drops worker names each of these, leaves the Engine,
// the tag table, the store and the state directory byte for byte as they were, and
// its plan is the one the run then makes.
func TestPreviewChangesNothingAndPredictsTheRun(t *testing.T) {
	f := newFixture(t, quickstart, mustPolicy(t, weekdays, nil))
	f.clock = time.Date(2026, 12, 4, 12, 0, 0, 0, time.UTC) // a Friday, in the window
	if rep := f.apply(f.commit()); rep.Outcome != pipeline.OutcomeApplied {
		t.Fatalf("first run: %s %v %v", rep.Outcome, rep.Err, rep.ModelsErr())
	}
	f.engine.AddImageWithHealthcheck("rasa-gitops/rasa-stub:next", "CMD", "true")
	f.files["environments/production.yaml"] = "model: moodbot-v2\n"
	f.files["environments/experimental.yaml"] = "model: moodbot-v1\nimage: rasa-gitops/rasa-stub:next\n"
	f.files["environments/staging.yaml"] = "model: moodbot-v2\nimage: rasa-gitops/rasa-stub:missing\n"
	delete(f.files, "environments/worker.yaml")
	rev := f.commit()
	f.clock = time.Date(2026, 12, 5, 12, 0, 0, 0, time.UTC) // Saturday: production is held

	before, mutations := hostSnapshot(t, f), len(f.engine.Mutations())
	res, err := Run(context.Background(), f.host(), rev)
	if err != nil {
		t.Fatal(err)
	}
	if after := hostSnapshot(t, f); after != before {
		t.Errorf("the preview changed the host:\n--- before\n%s\n--- after\n%s", before, after)
	}
	if m := f.engine.Mutations(); len(m) != mutations {
		t.Errorf("the preview made Engine calls that change it: %v", m[mutations:])
	}
	var text, md bytes.Buffer
	res.Text(&text)
	res.Markdown(&md)
	golden(t, "promote.txt", text.String())
	golden(t, "promote.md", md.String())

	byName := map[string]Environment{}
	for _, e := range res.Environments {
		byName[e.Name] = e
	}
	if p := byName["production"]; p.Verdict != VerdictHeld || !p.Until.Equal(time.Date(2026, 12, 7, 9, 0, 0, 0, time.UTC)) ||
		p.Model.From != "moodbot-v1" || p.Model.To != "moodbot-v2" || !p.Model.InStore || p.Model.Size <= 0 {
		t.Errorf("production: %+v", p)
	}
	if w := byName["worker"]; !w.Removed || w.Verdict != VerdictApply {
		t.Errorf("worker: %+v", w)
	}
	if !slices.Equal(res.Pulls, []string{"rasa-gitops/rasa-stub:missing"}) {
		t.Errorf("pulls: %v", res.Pulls)
	}

	// The run: the image the preview said it would pull is there by then.
	f.engine.AddImageWithHealthcheck("rasa-gitops/rasa-stub:missing", "CMD", "true")
	rep := f.apply(rev)
	var ran []Action
	for _, a := range rep.Plan.Actions {
		ran = append(ran, Action{Target: a.Target, Kind: string(a.Kind), Reason: a.Reason})
	}
	if !slices.Equal(ran, res.Plan) {
		t.Errorf("the run planned\n%v\nthe preview said\n%v", ran, res.Plan)
	}
	if st, _ := f.st.Status(context.Background(), "production"); st.Sync != state.Pending {
		t.Errorf("production after the run: %s (the preview said held)", st.Sync)
	}
}

// TestPreviewOfUnsignedChangeToSignedEnvironment: the verdict is refused with the
// reason, the environment keeps its container in the plan, and a revision that does
// not touch it leaves it unchanged.
func TestPreviewOfUnsignedChangeToSignedEnvironment(t *testing.T) {
	_, public := testgit.NewKey(t, "production-signer")
	f := newFixture(t, quickstart, nil)
	f.apply(f.commit())
	f.pol = mustPolicy(t, "environments:\n  production:\n    signers: [prod.asc]\n", map[string]string{"prod.asc": public})
	f.files["environments/production.yaml"] = "model: moodbot-v2\n"
	f.files["environments/experimental.yaml"] = "model: moodbot-v1\n"
	res, err := Run(context.Background(), f.host(), f.commit())
	if err != nil {
		t.Fatal(err)
	}
	var text bytes.Buffer
	res.Text(&text)
	golden(t, "refused.txt", text.String())
	got := map[string]Verdict{}
	for _, e := range res.Environments {
		got[e.Name] = e.Verdict
		if e.Name == "production" && !strings.Contains(e.Reason, "not signed by a key allowed for production") {
			t.Errorf("production's reason: %q", e.Reason)
		}
	}
	if want := map[string]Verdict{"production": VerdictRefused, "experimental": VerdictApply, "worker": VerdictUnchanged}; !maps(got, want) {
		t.Errorf("verdicts %v, want %v", got, want)
	}
}

// TestPreviewOfInvalidRevision: the problems, located, and no plan; recorded as a
// preview in the audit log without a secret.
func TestPreviewOfInvalidRevision(t *testing.T) {
	f := newFixture(t, quickstart, nil)
	f.apply(f.commit())
	f.files["environments/production.yaml"] = "model: moodbot-v9\n"
	res, err := Run(context.Background(), f.host(), f.commit())
	if err != nil {
		t.Fatal(err)
	}
	if res.Valid || len(res.Problems) == 0 || !strings.Contains(res.Problems[0], "environments/production.yaml:1") {
		t.Fatalf("invalid revision previewed as %+v", res)
	}
	var md bytes.Buffer
	res.Markdown(&md)
	golden(t, "invalid.md", md.String())
	if err := f.st.Record(context.Background(), res.Entry()); err != nil {
		t.Fatal(err)
	}
	rows, err := f.st.History(context.Background(), state.Filter{})
	if err != nil {
		t.Fatal(err)
	}
	last := rows[0] // newest first
	if last.Action != "preview" || last.Outcome != "invalid" || last.Revision != res.Revision {
		t.Errorf("audit row %+v", last)
	}
}

func maps[K, V comparable](a, b map[K]V) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if w, ok := b[k]; !ok || w != v {
			return false
		}
	}
	return true
}

// TestPreviewOfUnsignedChangeToProjectServices: with project signers, an unsigned
// change to a service of compose.files is refused, and the plan keeps that service
// (no recreate) as the run would; the same revision without the policy recreates it.
func TestPreviewOfUnsignedChangeToProjectServices(t *testing.T) {
	_, public := testgit.NewKey(t, "project-signer")
	f := newFixture(t, quickstart, nil)
	f.files["rasa-gitops.yaml"] += "compose:\n  files: [compose.yml]\n"
	f.files["compose.yml"] = "services:\n  actions:\n    image: " + stubImage + "\n    environment: {LEVEL: \"1\"}\n"
	if rep := f.apply(f.commit()); rep.Outcome != pipeline.OutcomeApplied {
		t.Fatalf("first run: %s %v", rep.Outcome, rep.Err)
	}
	f.files["compose.yml"] = "services:\n  actions:\n    image: " + stubImage + "\n    environment: {LEVEL: \"2\"}\n"
	rev := f.commit()
	res, err := Run(context.Background(), f.host(), rev)
	if err != nil {
		t.Fatal(err)
	}
	if res.ProjectRefused != "" || len(res.Plan) != 1 || res.Plan[0].Target != "service:actions" || res.Plan[0].Kind != "recreate" {
		t.Fatalf("without a project policy: refused %q, plan %v", res.ProjectRefused, res.Plan)
	}
	f.pol = mustPolicy(t, "project:\n  signers: [project.asc]\n", map[string]string{"project.asc": public})
	if res, err = Run(context.Background(), f.host(), rev); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(res.ProjectRefused, "changes the project's services (actions) but is not signed by a project signer") || len(res.Plan) != 0 {
		t.Errorf("with project signers: refused %q, plan %v", res.ProjectRefused, res.Plan)
	}
}

// BenchmarkPreview is one preview of a promotion on a converged host of three
// environments (in-memory Engine, real SQLite state, store and tag table).
func BenchmarkPreview(b *testing.B) {
	f := newFixture(b, quickstart, mustPolicy(b, weekdays, nil))
	f.clock = time.Date(2026, 12, 4, 12, 0, 0, 0, time.UTC)
	f.apply(f.commit())
	f.files["environments/production.yaml"] = "model: moodbot-v2\n"
	rev := f.commit()
	for b.Loop() {
		if _, err := Run(context.Background(), f.host(), rev); err != nil {
			b.Fatal(err)
		}
	}
}

// TestMarkdownFenceHoldsBackticks: a problem quoting backticks from the pull request
// cannot close the comment's code block and write Markdown of its own.
func TestMarkdownFenceHoldsBackticks(t *testing.T) {
	res := Result{Revision: "main@sha1:1", Problems: []string{"environments/x.yaml:1:1: ```\n**Valid.** fake"}}
	var md strings.Builder
	res.Markdown(&md)
	out := md.String()
	if !strings.Contains(out, "````\nenvironments/x.yaml:1:1: ```\n**Valid.** fake\n````\n") {
		t.Fatalf("the problem is not inside a fence longer than its backticks:\n%s", out)
	}
}
