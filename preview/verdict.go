package preview

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/rasa-gitops/rasa-gitops/compose"
	"github.com/rasa-gitops/rasa-gitops/pipeline"
	"github.com/rasa-gitops/rasa-gitops/state"
)

// verdicts decide, per environment, what the policy stage of a run would decide now:
// unchanged (same fingerprint as the last applied), refused (a signer policy the
// revision's signature does not satisfy), held (outside every change window) or
// applied. Environments the revision drops are listed as removed, with the same
// signer check (dropping a protected environment is a change to it).
func verdicts(ctx context.Context, h Host, in pipeline.Input, r *compose.Rendered) ([]Environment, error) {
	all, err := h.State.Statuses(ctx)
	if err != nil {
		return nil, fmt.Errorf("preview: read the environments' state: %w", err)
	}
	recorded := map[string]state.EnvStatus{}
	for _, st := range all {
		recorded[st.Name] = st
	}
	now := h.Now()
	var out []Environment
	declared := map[string]bool{}
	for _, env := range r.Environments {
		declared[env.Name] = true
		e := Environment{Name: env.Name, Verdict: VerdictApply}
		if prev, ok := recorded[env.Name]; ok && prev.LastApplied != "" && pipeline.SameRendering(prev.Fingerprint, r, env) {
			e.Verdict = VerdictUnchanged
		} else {
			decide(h, in, &e, now)
		}
		out = append(out, e)
	}
	for _, prev := range all {
		if declared[prev.Name] || prev.Project != r.Project.Name || prev.LastApplied == "" {
			continue
		}
		e := Environment{Name: prev.Name, Verdict: VerdictApply, Removed: true}
		decideSigner(h, in, &e)
		out = append(out, e)
	}
	return out, nil
}

// decide applies an environment's policy to a change: signers first, then windows.
func decide(h Host, in pipeline.Input, e *Environment, now time.Time) {
	if !decideSigner(h, in, e) || h.Policy == nil {
		return
	}
	pol := h.Policy.For(e.Name)
	if pol == nil || pol.Allowed(now) {
		return
	}
	e.Verdict, e.Until = VerdictHeld, pol.NextAllowed(now)
	e.Reason = pipeline.HeldMessage(e.Until)
}

// projectVerdict is why the project policy would refuse the revision's change to the
// project's own services ("" when it would not): unsigned by a project signer, or a
// state that cannot be read (the run fails closed too).
func projectVerdict(ctx context.Context, h Host, in pipeline.Input, r *compose.Rendered) string {
	if h.Policy == nil {
		return ""
	}
	pol := h.Policy.Project()
	if pol == nil || pol.KeyRing == "" {
		return ""
	}
	changed, err := pipeline.ProjectChanged(ctx, h.State, r)
	if err == nil && !changed {
		return ""
	}
	if err == nil {
		err = signedBy(in, pol.KeyRing)
	}
	if err == nil {
		return ""
	}
	return fmt.Sprintf("changes the project's services (%s) but is not signed by a project signer: %v", strings.Join(pipeline.ProjectServices(r), ", "), err)
}

// signedBy checks the revision's signature against a key ring.
func signedBy(in pipeline.Input, keyRing string) error {
	if in.Verify == nil {
		return fmt.Errorf("revision %s comes from a directory, which has no signatures", in.Short)
	}
	_, err := in.Verify(keyRing)
	return err
}

// decideSigner refuses the change when the environment has signers and the revision
// is not signed by one of them; it says whether the change may go on.
func decideSigner(h Host, in pipeline.Input, e *Environment) bool {
	if h.Policy == nil {
		return true
	}
	pol := h.Policy.For(e.Name)
	if pol == nil || pol.KeyRing == "" {
		return true
	}
	if err := signedBy(in, pol.KeyRing); err != nil {
		e.Verdict = VerdictRefused
		e.Reason = fmt.Sprintf("not signed by a key allowed for %s: %v", e.Name, err)
		return false
	}
	return true
}

// modelChange compares what the environment serves now (its tag) with what the
// revision declares, and says whether the model is in the store and how large it is.
func modelChange(h Host, r *compose.Rendered, name string) Model {
	m := Model{Size: -1}
	table := h.Tags.Snapshot()
	if table.Project == r.Project.Name {
		if tag, ok := table.Tags[name]; ok {
			m.From, m.FromDigest = tag.Model, tag.Digest
		}
	}
	for _, env := range r.Environments {
		if env.Name == name {
			m.To, m.ToDigest = env.Model, env.SHA256
		}
	}
	m.Changed = m.From != m.To || m.FromDigest != m.ToDigest
	if m.ToDigest == "" {
		return m
	}
	m.InStore = h.Store.Has(m.ToDigest)
	m.Size = modelSize(h, r, m)
	return m
}

// modelSize is the declared model's size: from the store, else from the repository
// file its source names; a URL source is not fetched for a preview (-1).
func modelSize(h Host, r *compose.Rendered, m Model) int64 {
	path := ""
	if m.InStore {
		path = h.Store.Path(m.ToDigest)
	} else if src := r.Models[m.To].Source; src != "" && !strings.Contains(src, "://") {
		path = filepath.Join(r.Dir, filepath.FromSlash(strings.TrimPrefix(src, "/")))
	}
	if path == "" {
		return -1
	}
	info, err := os.Stat(path)
	if err != nil || !info.Mode().IsRegular() {
		return -1
	}
	return info.Size()
}
