package pipeline

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/docker/docker/api/types/container"

	"github.com/rasa-gitops/rasa-gitops/compose"
	"github.com/rasa-gitops/rasa-gitops/gitsource"
	"github.com/rasa-gitops/rasa-gitops/internal/testengine"
	"github.com/rasa-gitops/rasa-gitops/internal/testgit"
	"github.com/rasa-gitops/rasa-gitops/policy"
	"github.com/rasa-gitops/rasa-gitops/reconcile"
	"github.com/rasa-gitops/rasa-gitops/state"
)

var quickstart = map[string]string{"production": "model: moodbot-v1\n", "experimental": "model: moodbot-v2\n", "worker": ""}

// converged runs the first revision and waits for every model load.
func converged(t *testing.T, envs map[string]string, pol *policy.Policy) *harness {
	t.Helper()
	h := newHarness(t, envs, pol)
	rep := h.run(Request{Fetch: true, WaitModels: true})
	if rep.Outcome != OutcomeApplied && rep.Outcome != OutcomePartial {
		t.Fatalf("first run: %s (%v, %v)", rep.Outcome, rep.Err, rep.ModelsErr())
	}
	for len(h.loads) > 0 {
		<-h.loads // the first run waited for these
	}
	return h
}

func TestFirstRunAppliesAndReportsSyncedHealthy(t *testing.T) {
	h := converged(t, quickstart, nil)
	for env, model := range map[string]string{"production": "moodbot-v1", "experimental": "moodbot-v2", "worker": ""} {
		st := h.status(env)
		if st.Sync != state.Synced || st.Health != state.Healthy || st.DesiredModel != model || st.ObservedAt.IsZero() {
			t.Errorf("%s: %+v", env, st)
		}
		if st.LastApplied != "main@sha1:"+strings.Repeat("0", 39)+"1" || st.LastAttempted != st.LastApplied {
			t.Errorf("%s revisions: applied %q attempted %q", env, st.LastApplied, st.LastAttempted)
		}
	}
}

// TestReportNamesTheInputItRead: a run reports the ID of the input it read (a
// directory's fingerprint, taken before the render), which `apply` keeps in its
// converged snapshot; an input edited after the run started must not pass for applied.
func TestReportNamesTheInputItRead(t *testing.T) {
	h := converged(t, quickstart, nil)
	h.files["environments/worker.yaml"] = "service:\n  environment: {X: \"1\"}\n"
	in := h.commit()
	if rep := h.poll(); rep.InputID != in.ID || rep.Revision != in.Revision {
		t.Fatalf("report input %q revision %q, want %q %q", rep.InputID, rep.Revision, in.ID, in.Revision)
	}
}

func TestNoChangePollObservesAndChangesNothing(t *testing.T) {
	h := converged(t, quickstart, nil)
	h.engine.ResetCalls()
	rep := h.poll()
	if rep.Outcome != OutcomeUnchanged || !rep.Plan.Empty() {
		t.Fatalf("outcome %s, plan:\n%s", rep.Outcome, rep.Plan)
	}
	if m := h.engine.Mutations(); len(m) != 0 {
		t.Errorf("a no-change poll changed the Engine: %v", m)
	}
	lists := 0
	for _, c := range h.engine.Calls() {
		if c == "ContainerList" {
			lists++
		}
	}
	if lists == 0 {
		t.Error("a no-change poll did not observe the Engine")
	}
}

func TestDriftHealedOnNoChangePoll(t *testing.T) {
	for name, drift := range map[string]func(h *harness, id string) error{
		"stopped": func(h *harness, id string) error {
			return h.engine.ContainerStop(context.Background(), id, container.StopOptions{})
		},
		"removed": func(h *harness, id string) error { return h.engine.RemoveForce(id) },
		"paused":  func(h *harness, id string) error { return h.engine.Pause(id) },
		"disconnected": func(h *harness, id string) error {
			return h.engine.NetworkDisconnect(context.Background(), "unit_default", id, true)
		},
	} {
		t.Run(name, func(t *testing.T) {
			h := converged(t, map[string]string{"production": "model: moodbot-v1\n"}, nil)
			if err := drift(h, h.containerID("production")); err != nil {
				t.Fatal(err)
			}
			rep := h.poll()
			if rep.Plan.Empty() || rep.Result.Err() != nil {
				t.Fatalf("not healed: %s\n%s %v", rep.Outcome, rep.Plan, rep.Result.Err())
			}
			if rep.Outcome != OutcomeHealed {
				t.Errorf("outcome %s, want healed", rep.Outcome)
			}
			if again := h.poll(); !again.Plan.Empty() {
				t.Errorf("still drifting after the heal:\n%s", again.Plan)
			}
			if st := h.status("production"); st.Health != state.Healthy && st.Health != state.Progressing {
				t.Errorf("after the heal: %s %s", st.Health, st.HealthReason)
			}
		})
	}
}

func TestDockerEventRunHealsWithoutRendering(t *testing.T) {
	h := converged(t, quickstart, nil)
	renders := 0
	render := h.p.cfg.Render
	h.p.cfg.Render = func(ctx context.Context, dir string) (Rendering, error) { renders++; return render(ctx, dir) }
	h.removeContainer("worker")
	rep := h.run(Request{Reasons: []string{"docker:destroy"}})
	if rep.Plan.Empty() || renders != 0 {
		t.Fatalf("plan:\n%s renders %d", rep.Plan, renders)
	}
	if h.src.fetches != 1 {
		t.Errorf("an event run fetched: %d fetches", h.src.fetches)
	}
}

func TestResyncIntervalSkipsRenderingBetweenResyncs(t *testing.T) {
	h := newHarness(t, quickstart, nil)
	h.p.cfg.Resync = time.Hour
	h.run(Request{Fetch: true, WaitModels: true})
	renders := 0
	render := h.p.cfg.Render
	h.p.cfg.Render = func(ctx context.Context, dir string) (Rendering, error) { renders++; return render(ctx, dir) }
	h.poll()
	if renders != 0 {
		t.Errorf("rendered %d times within the resync interval", renders)
	}
	h.clock = h.clock.Add(time.Hour)
	h.poll()
	if renders != 1 {
		t.Errorf("rendered %d times after the resync interval, want 1", renders)
	}
}

func TestRefusedRevisionShowsOnItsEnvironmentOnly(t *testing.T) {
	h := converged(t, quickstart, nil)
	good := h.status("production").LastApplied
	h.files["environments/production.yaml"] = "model: [unclosed\n"
	bad := h.commit()
	rep := h.poll()
	if rep.Outcome != OutcomeRefused {
		t.Fatalf("outcome %s", rep.Outcome)
	}
	prod := h.status("production")
	if prod.Sync != state.Refused || prod.LastAttempted != bad.Revision || prod.LastApplied != good {
		t.Errorf("production: %s attempted %s applied %s", prod.Sync, prod.LastAttempted, prod.LastApplied)
	}
	if !strings.Contains(prod.SyncReason, "environments/production.yaml:1:") {
		t.Errorf("the reason does not name file:line: %q", prod.SyncReason)
	}
	if prod.Health != state.Healthy {
		t.Errorf("the last good revision does not keep running: %s %s", prod.Health, prod.HealthReason)
	}
	for _, env := range []string{"experimental", "worker"} {
		if st := h.status(env); st.Sync != state.Synced || st.LastAttempted != good {
			t.Errorf("%s affected by production's refusal: %s attempted %s", env, st.Sync, st.LastAttempted)
		}
	}
	if ok, why := h.p.Ready(); ok || !strings.Contains(why, "refused") {
		t.Errorf("ready = %v %q", ok, why)
	}
}

func TestRefusedRevisionStillHealsWithLastGood(t *testing.T) {
	h := converged(t, quickstart, nil)
	h.files["models.yaml"] = "models: {"
	h.commit()
	h.poll()
	h.removeContainer("experimental")
	rep := h.poll()
	if rep.Plan.Empty() || rep.Result.Err() != nil {
		t.Fatalf("a refused revision stopped self-heal:\n%s", rep.Plan)
	}
	for _, env := range []string{"production", "experimental", "worker"} {
		if st := h.status(env); st.Sync != state.Refused {
			t.Errorf("%s: a problem in models.yaml must refuse every environment, got %s", env, st.Sync)
		}
	}
	if n := len(h.audit("validate")); n != 1 {
		t.Errorf("the refusal was audited %d times over two polls", n)
	}
}

func TestFixedRevisionClearsRefusal(t *testing.T) {
	h := converged(t, quickstart, nil)
	h.files["environments/worker.yaml"] = "bogus: 1\n"
	h.commit()
	h.poll()
	h.files["environments/worker.yaml"] = ""
	fixed := h.commit()
	h.run(Request{Fetch: true, WaitModels: true})
	if st := h.status("worker"); st.Sync != state.Synced || st.LastApplied != fixed.Revision {
		t.Errorf("worker after the fix: %s %q applied %s", st.Sync, st.SyncReason, st.LastApplied)
	}
	if started, ended := h.conditions("worker"); started != 1 || ended != 1 {
		t.Errorf("condition rows: %d started, %d ended", started, ended)
	}
}

func TestFirstRevisionInvalidRefusesWithoutTarget(t *testing.T) {
	h := newHarness(t, map[string]string{"production": "model: nope\n"}, nil)
	rep := h.poll()
	if rep.Outcome != OutcomeRefused || rep.RefusalErr() == nil {
		t.Fatalf("outcome %s", rep.Outcome)
	}
	if len(h.engine.Mutations()) != 0 {
		t.Errorf("an invalid first revision changed the Engine: %v", h.engine.Mutations())
	}
}

func TestPromotionRetagsWithoutRestartAndMovesSince(t *testing.T) {
	h := converged(t, quickstart, nil)
	id := h.containerID("production")
	before := h.status("production")
	h.clock = h.clock.Add(time.Minute)
	h.files["environments/production.yaml"] = "model: moodbot-v2\n"
	h.commit()
	rep := h.poll()
	if !rep.Plan.Empty() {
		t.Fatalf("a promotion planned container work:\n%s", rep.Plan)
	}
	h.waitLoaded("production")
	st := h.status("production")
	if st.Sync != state.Synced || st.ObservedModel != "moodbot-v2.tar.gz" || h.containerID("production") != id {
		t.Fatalf("after promotion: %+v", st)
	}
	if !st.Since.After(before.Since) {
		t.Errorf("since did not move on a promotion: %v then %v", before.Since, st.Since)
	}
	if rows := h.audit("retag model"); len(rows) != 3 || rows[0].After != "moodbot-v2" || rows[0].Before != "moodbot-v1" {
		t.Errorf("retag rows: %+v", rows)
	}
}

func TestModelLoadDoesNotBlockAnotherEnvironment(t *testing.T) {
	h := converged(t, quickstart, nil)
	h.breakModel("moodbot-v1")
	h.p.cfg.Loader.Nudge = false // experimental's model never loads: the load waits out its timeout
	h.p.loader = reconcile.NewLoader(h.engine, reconcile.LoaderOptions{Timeout: time.Hour, Address: h.p.cfg.Loader.Address, Done: h.p.loadDone})
	t.Cleanup(h.p.loader.Close)
	h.files["environments/experimental.yaml"] = "model: moodbot-v1\n"
	h.commit()
	h.poll()
	if !h.p.Loading("experimental") {
		t.Fatalf("experimental is not loading: %+v", h.status("experimental"))
	}
	h.files["environments/worker.yaml"] = "model: moodbot-v2\n"
	h.commit()
	rep := h.poll()
	if rep.Outcome == OutcomeFailed && rep.Err != nil {
		t.Fatal(rep.Err)
	}
	if st := h.status("worker"); st.DesiredModel != "moodbot-v2" || st.LastApplied != h.src.in.Revision {
		t.Errorf("worker's change waited on experimental's load: %+v", st)
	}
	if !h.p.Loading("experimental") {
		t.Error("experimental's load ended")
	}
}

func TestFailedLoadKeepsPreviousModelAndSaysSo(t *testing.T) {
	h := converged(t, quickstart, nil)
	h.breakModel("moodbot-v2")
	h.files["environments/production.yaml"] = "model: moodbot-v2\n"
	h.commit()
	h.poll()
	res := h.waitLoaded("production")
	if res.Synced || res.Err == nil {
		t.Fatalf("load result %+v", res)
	}
	st := h.status("production")
	if st.Sync != state.Failed || !strings.Contains(st.SyncReason, "moodbot-v2 failed to load") || !strings.Contains(st.SyncReason, "still serving moodbot-v1") {
		t.Errorf("sync %s %q", st.Sync, st.SyncReason)
	}
	if st.Health != state.Degraded || st.ObservedModel != "moodbot-v1.tar.gz" {
		t.Errorf("health %s %q, serves %s", st.Health, st.HealthReason, st.ObservedModel)
	}
}

func TestRetryByObservationAfterBackoff(t *testing.T) {
	h := converged(t, quickstart, nil)
	h.breakModel("moodbot-v2")
	h.files["environments/production.yaml"] = "model: moodbot-v2\n"
	h.commit()
	h.poll()
	h.waitLoaded("production")
	// The tag table says moodbot-v2 already: only observation can tell the server
	// serves moodbot-v1. Within the backoff nothing is tried again.
	h.poll()
	if h.p.Loading("production") {
		t.Fatal("retried within the backoff")
	}
	h.mu.Lock()
	delete(h.broken, "moodbot-v2")
	h.mu.Unlock()
	h.p.loader = reconcile.NewLoader(h.engine, reconcile.LoaderOptions{Nudge: true, Timeout: 2 * time.Second, Backoff: time.Nanosecond,
		Address: h.p.cfg.Loader.Address, Done: h.p.loadDone})
	h.p.loader.Start(reconcile.LoadRequests(h.p.current.r.Rendered)["experimental"]) // an unrelated load, to prove per-environment state
	h.poll()
	h.waitLoaded("production")
	if st := h.status("production"); st.Sync != state.Synced || st.ObservedModel != "moodbot-v2.tar.gz" {
		t.Errorf("not retried by observation: %s %q serves %s", st.Sync, st.SyncReason, st.ObservedModel)
	}
}

func TestNewerRevisionSupersedesModelWait(t *testing.T) {
	h := converged(t, quickstart, nil)
	h.breakModel("moodbot-v2")
	h.files["environments/production.yaml"] = "model: moodbot-v2\n"
	h.commit()
	h.p.cfg.Loader.Nudge = false
	h.poll()
	h.files["environments/production.yaml"] = "model: moodbot-v1\n"
	h.commit()
	h.run(Request{Fetch: true, WaitModels: true})
	if st := h.status("production"); st.Sync != state.Synced || st.DesiredModel != "moodbot-v1" {
		t.Errorf("after the newer revision: %+v", st)
	}
}

func TestWrongDigestFailsOnlyItsEnvironments(t *testing.T) {
	h := converged(t, map[string]string{"production": "model: moodbot-v1\n", "worker": ""}, nil)
	h.files["models.yaml"] = strings.Replace(h.files["models.yaml"], "moodbot-v2:\n    sha256: ", "moodbot-v2:\n    sha256: 00", 1)
	h.files["models.yaml"] = strings.Replace(h.files["models.yaml"], "sha256: 00", "sha256: ", 1)
	h.files["models.yaml"] = swapDigest(h.files["models.yaml"], "moodbot-v2")
	h.files["environments/worker.yaml"] = "model: moodbot-v2\n"
	h.commit()
	h.poll()
	h.poll()
	worker, prod := h.status("worker"), h.status("production")
	if worker.Sync != state.Failed || !strings.Contains(worker.SyncReason, "digest mismatch") {
		t.Errorf("worker: %s %q", worker.Sync, worker.SyncReason)
	}
	if prod.Sync != state.Synced || prod.Health != state.Healthy || prod.ObservedModel != "moodbot-v1.tar.gz" {
		t.Errorf("production affected by worker's model: %+v", prod)
	}
	if n := len(h.audit("condition")); n != 1 {
		t.Errorf("%d condition rows over two polls, want 1", n)
	}
}

// swapDigest gives model a digest that is well formed and wrong.
func swapDigest(models, model string) string {
	i := strings.Index(models, model+":")
	j := strings.Index(models[i:], "sha256: ") + i + len("sha256: ")
	return models[:j] + strings.Repeat("ab", 32) + models[j+64:]
}

func TestHeldChangeShowsPendingWithOpeningTime(t *testing.T) {
	pol := mustPolicy(t, "environments:\n  production:\n    windows:\n      - allow: \"0 9 * * 1-5\"\n        duration: 8h\n")
	h := converged(t, quickstart, pol)
	h.clock = time.Date(2026, 12, 5, 12, 0, 0, 0, time.UTC) // a Saturday
	h.files["environments/production.yaml"] = "model: moodbot-v2\n"
	rev := h.commit()
	h.poll()
	st := h.status("production")
	if st.Sync != state.Pending || !strings.Contains(st.SyncReason, "2026-12-07T09:00:00Z") || st.LastAttempted != rev.Revision {
		t.Errorf("production: %s %q attempted %s", st.Sync, st.SyncReason, st.LastAttempted)
	}
	if st.DesiredModel != "moodbot-v1" {
		t.Errorf("a held change was applied: %s", st.DesiredModel)
	}
	if st := h.status("experimental"); st.Sync != state.Synced {
		t.Errorf("experimental held too: %s", st.Sync)
	}
	h.clock = time.Date(2026, 12, 7, 10, 0, 0, 0, time.UTC)
	h.run(Request{Fetch: true, WaitModels: true})
	if st := h.status("production"); st.Sync != state.Synced || st.DesiredModel != "moodbot-v2" {
		t.Errorf("when the window opened: %s %s", st.Sync, st.DesiredModel)
	}
}

func TestUnsignedChangeToSignedEnvironmentIsRefused(t *testing.T) {
	pol := mustPolicy(t, "environments:\n  production:\n    signers: [prod.asc]\n", "prod.asc", testKey(t))
	h := converged(t, quickstart, pol)
	if st := h.status("production"); st.Sync != state.Refused || !strings.Contains(st.SyncReason, "not signed") || st.LastApplied != "" || st.Health != state.Missing {
		t.Errorf("production: %s %q applied %q %s", st.Sync, st.SyncReason, st.LastApplied, st.Health)
	}
	if h.containerID("production") != "" {
		t.Error("an unsigned revision created production")
	}
	if st := h.status("experimental"); st.Sync != state.Synced || st.DesiredModel != "moodbot-v2" {
		t.Errorf("experimental: %s %s", st.Sync, st.DesiredModel)
	}
	if n := len(h.audit("policy: signature")); n != 1 {
		t.Errorf("%d signature refusals audited", n)
	}
	h.poll()
	if n := len(h.audit("policy: signature")); n != 1 {
		t.Errorf("the same refusal was audited again: %d rows", n)
	}
}

func TestContainerFailureFailsOnlyThatEnvironment(t *testing.T) {
	h := converged(t, quickstart, nil)
	h.files["environments/worker.yaml"] = "service:\n  environment:\n    EXTRA: \"1\"\n"
	h.commit()
	h.engine.FailNext("ContainerCreate", errors.New("no space left on device"))
	rep := h.run(Request{Fetch: true, WaitModels: true})
	if rep.Outcome != OutcomeFailed {
		t.Fatalf("outcome %s", rep.Outcome)
	}
	if st := h.status("worker"); st.Sync != state.Failed || !strings.Contains(st.SyncReason, "no space left") || st.Health != state.Healthy {
		t.Errorf("worker: %s %q %s %q", st.Sync, st.SyncReason, st.Health, st.HealthReason)
	}
	if st := h.status("production"); st.Sync != state.Synced {
		t.Errorf("production: %s %q", st.Sync, st.SyncReason)
	}
	h.run(Request{Fetch: true, WaitModels: true})
	if st := h.status("worker"); st.Sync != state.Synced {
		t.Errorf("the failed change was not retried: %s %q", st.Sync, st.SyncReason)
	}
}

func TestEngineUnreachableIsReportedNotMissing(t *testing.T) {
	h := converged(t, quickstart, nil)
	h.engine.FailNext("ContainerList", errors.New("cannot connect to the Docker daemon"))
	rep := h.poll()
	if rep.Err == nil {
		t.Fatal("no error")
	}
	for _, env := range []string{"production", "worker"} {
		st := h.status(env)
		if st.Health == state.Missing {
			t.Errorf("%s recorded Missing when the Engine did not answer", env)
		}
	}
}

func TestRemovedEnvironmentIsPrunedAndForgotten(t *testing.T) {
	h := converged(t, quickstart, nil)
	delete(h.files, "environments/worker.yaml")
	h.commit()
	h.run(Request{Fetch: true, WaitModels: true})
	if h.containerID("worker") != "" {
		t.Error("the removed environment's container runs")
	}
	if st := h.status("worker"); st.Project != "" {
		t.Errorf("the removed environment is still in the status: %+v", st)
	}
}

func TestDownRecordsMissing(t *testing.T) {
	h := converged(t, quickstart, nil)
	if _, err := Down(context.Background(), h.engine, h.st, "unit", false, nil); err != nil {
		t.Fatal(err)
	}
	for _, env := range []string{"production", "experimental", "worker"} {
		if st := h.status(env); st.Health != state.Missing || st.Sync != state.OutOfSync {
			t.Errorf("%s after down: %s %s", env, st.Sync, st.Health)
		}
	}
}

func TestDryRunChangesNothing(t *testing.T) {
	h := newHarness(t, quickstart, nil)
	rep := h.run(Request{Fetch: true, DryRun: true})
	if rep.Plan.Empty() || len(h.engine.Mutations()) != 0 {
		t.Fatalf("plan:\n%s mutations %v", rep.Plan, h.engine.Mutations())
	}
	if rows, err := h.st.Statuses(context.Background()); err != nil || len(rows) != 0 {
		t.Errorf("a dry run recorded statuses: %+v, %v", rows, err)
	}
}

func TestStopBeforeRunStartsNoStep(t *testing.T) {
	h := newHarness(t, quickstart, nil)
	stop, cancel := context.WithCancel(context.Background())
	cancel()
	rep := h.run(Request{Fetch: true, Stop: stop})
	for _, a := range rep.Result.Actions {
		if a.Outcome == reconcile.OutcomeDone {
			t.Errorf("%s ran after SIGTERM", a.Action.Target)
		}
	}
	for _, env := range []string{"production", "worker"} {
		if st := h.status(env); st.LastApplied != "" {
			t.Errorf("%s recorded as applied after SIGTERM: %+v", env, st)
		}
	}
}

func TestAffectedEnvironments(t *testing.T) {
	one := compose.Problems{{File: "environments/production.yaml", Line: 1, Col: 1, Message: "x"}}
	if got := affected(one); len(got) != 1 || !got["production"] {
		t.Errorf("affected = %v", got)
	}
	mixed := append(one, compose.Problem{File: "models.yaml", Line: 2, Col: 1, Message: "y"})
	if got := affected(mixed); got != nil {
		t.Errorf("a models.yaml problem must affect every environment: %v", got)
	}
	if got := affected(errors.New("read: permission denied")); got != nil {
		t.Errorf("an I/O error must affect every environment: %v", got)
	}
}

// mustPolicy loads a policy file, with extra files (name, content pairs) beside it.
func mustPolicy(t *testing.T, body string, extra ...string) *policy.Policy {
	t.Helper()
	dir := t.TempDir()
	for i := 0; i+1 < len(extra); i += 2 {
		if err := os.WriteFile(filepath.Join(dir, extra[i]), []byte(extra[i+1]), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	path := filepath.Join(dir, "policy.yaml")
	if err := os.WriteFile(path, []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
	p, err := policy.Load(path)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// testKey is an armored public key nobody in these tests signs with.
func testKey(t *testing.T) string {
	_, public := testgit.NewKey(t, "production-signer")
	return public
}

func TestUnreachableSourceShownOnEveryEnvironmentAndHealsMeanwhile(t *testing.T) {
	h := converged(t, quickstart, nil)
	h.src.mu.Lock()
	h.src.err = errors.New("fetch git://git.example/deploy.git main: connection refused")
	h.src.mu.Unlock()
	h.removeContainer("worker")
	rep := h.poll()
	if rep.Plan.Empty() {
		t.Error("an unreachable Git server stopped self-heal")
	}
	for _, env := range []string{"production", "experimental", "worker"} {
		if st := h.status(env); !strings.Contains(st.SourceError, "connection refused") || st.Sync != state.Synced {
			t.Errorf("%s: source %q sync %s", env, st.SourceError, st.Sync)
		}
	}
	if ok, why := h.p.Ready(); ok || !strings.Contains(why, "connection refused") {
		t.Errorf("ready %v %q", ok, why)
	}
	h.poll()
	h.src.mu.Lock()
	h.src.err = nil
	h.src.mu.Unlock()
	h.poll()
	if st := h.status("production"); st.SourceError != "" {
		t.Errorf("the fetch failure outlived the fetch: %q", st.SourceError)
	}
	if started, ended := h.conditions("production"); started != 1 || ended != 1 {
		t.Errorf("production's source condition: %d started, %d ended over three polls", started, ended)
	}
}

func TestCommitOutsidePathIsNoNewRevision(t *testing.T) {
	remote := testgit.New(t)
	files := testengine.QuickstartModels(t)
	for name, body := range files {
		files["deploy/"+name] = body
		delete(files, name)
	}
	files["deploy/rasa-gitops.yaml"] = "version: 1\nproject: unit\nrasa:\n  image: " + stubImage + "\nmodelServer:\n  url: http://host.docker.internal:8080\n"
	files["deploy/environments/production.yaml"] = "model: moodbot-v1\n"
	files["README.md"] = "one\n"
	remote.Commit(files, testgit.CommitOptions{})
	git, err := gitsource.Open(gitsource.Options{URL: remote.Bare, Branch: "main", Path: "deploy", StateDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	src := &GitSource{Git: git}
	first, changed, err := src.Next(context.Background(), true)
	if err != nil || !changed {
		t.Fatalf("first: %v %v", changed, err)
	}
	files["README.md"] = "two\n"
	remote.Commit(files, testgit.CommitOptions{})
	again, changed, err := src.Next(context.Background(), true)
	if err != nil || changed || again.Revision != first.Revision {
		t.Errorf("a commit outside --path: changed %v, revision %s (was %s), %v", changed, again.Revision, first.Revision, err)
	}
	files["deploy/environments/production.yaml"] = "model: moodbot-v2\n"
	remote.Commit(files, testgit.CommitOptions{})
	if next, changed, err := src.Next(context.Background(), true); err != nil || !changed || next.Revision == first.Revision {
		t.Errorf("a commit under --path is not a new revision: %v %s, %v", changed, next.Revision, err)
	}
}

func TestUnsignedNetworkChangeIsRefusedForSignedEnvironment(t *testing.T) {
	h := converged(t, quickstart, nil)
	// production was applied by a signed revision; now a signer policy protects it.
	h.p.cfg.Policy = mustPolicy(t, "environments:\n  production:\n    signers: [prod.asc]\n", "prod.asc", testKey(t))
	h.files["rasa-gitops.yaml"] += "compose:\n  files: [net.yml]\n"
	h.files["net.yml"] = "networks:\n  default:\n    driver_opts:\n      com.docker.network.driver.mtu: \"1400\"\n"
	rev := h.commit()
	rep := h.run(Request{Fetch: true, WaitModels: true})
	if rep.RefusalErr() != nil {
		t.Fatal(rep.RefusalErr())
	}
	prod := h.status("production")
	if prod.Sync != state.Refused || !strings.Contains(prod.SyncReason, "not signed") {
		t.Errorf("an unsigned change to production's network: %s %q", prod.Sync, prod.SyncReason)
	}
	if exp := h.status("experimental"); exp.Sync != state.Synced || exp.LastApplied != rev.Revision {
		t.Errorf("experimental: %s applied %s", exp.Sync, exp.LastApplied)
	}
	if strings.Contains(rep.Plan.String(), "network:") {
		t.Errorf("the network of a refused environment was recreated:\n%s", rep.Plan)
	}
}

func TestLegacyFingerprintStillMatches(t *testing.T) {
	h := converged(t, quickstart, nil)
	r := h.p.current.r.Rendered
	for _, env := range r.Environments {
		fp := Fingerprint(r, env)
		if !strings.HasPrefix(fp, "v2:") {
			t.Fatalf("fingerprint %q is not versioned", fp)
		}
		if !sameFingerprint(legacyFingerprint(r, env), r, env, fp) || !sameFingerprint(fp, r, env, fp) {
			t.Errorf("%s: a fingerprint recorded by either build must match the same rendering", env.Name)
		}
		if sameFingerprint("v2:other", r, env, fp) || sameFingerprint("", r, env, fp) {
			t.Errorf("%s: a different or missing fingerprint matched", env.Name)
		}
	}
}
