package pipeline

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"sort"
	"strings"
	"time"

	"go.uber.org/zap"

	"github.com/compose-spec/compose-go/v2/types"

	"github.com/rasa-gitops/rasa-gitops/compose"
	"github.com/rasa-gitops/rasa-gitops/state"
)

// policy is the policy stage: per environment, may the revision's change to it be
// applied? A change to an environment with signer keys must be signed by one of them
// (else Refused), and must fall in its change windows (else Pending, unless forced).
// The project's own services need a project signer. Nothing is frozen without a policy.
func (p *Pipeline) policy(ctx context.Context, req Request, tgt *target, log *zap.Logger) verdicts {
	v := verdicts{frozen: map[string]bool{}, refused: map[string]string{}, held: map[string]time.Time{}}
	v.projectFP = projectFingerprint(tgt.r.Rendered)
	if p.cfg.Policy == nil {
		return v
	}
	now := p.cfg.Now()
	for _, env := range tgt.r.Rendered.Environments {
		p.envPolicy(ctx, req, tgt, env.Name, now, &v, log)
	}
	p.removalPolicy(ctx, tgt, &v, log)
	v.projectFrozen = p.projectPolicy(ctx, tgt, &v, log)
	return v
}

// envPolicy decides one declared environment's change.
func (p *Pipeline) envPolicy(ctx context.Context, req Request, tgt *target, env string, now time.Time, v *verdicts, log *zap.Logger) {
	pol := p.cfg.Policy.For(env)
	if pol == nil {
		return
	}
	prev, err := p.cfg.State.Status(ctx, env)
	if err != nil {
		// Fail closed: without the last applied fingerprint nothing is allowed.
		v.refused[env], v.frozen[env] = "cannot read the environment's state: "+err.Error(), true
		return
	}
	if sameFingerprint(prev.Fingerprint, tgt.r.Rendered, envOf(tgt.r.Rendered, env), tgt.fingerprints[env]) {
		return // unchanged: nothing to allow or refuse
	}
	if pol.KeyRing != "" {
		if _, err := verify(tgt.in, pol.KeyRing); err != nil {
			why := fmt.Sprintf("revision %s changes %s but is not signed by a key its policy allows: %v", tgt.in.Short, env, err)
			v.refused[env], v.frozen[env] = why, true
			p.decide(v, state.Entry{Environment: env, Action: "policy: signature", Before: prev.LastApplied, After: tgt.in.Revision, Outcome: "refused", Error: why})
			log.Warn("change refused by the signer policy", zap.String("environment", env), zap.String("reason", why))
			return
		}
	}
	if pol.Allowed(now) {
		return
	}
	if req.ForceWindow {
		p.decide(v, state.Entry{Environment: env, Action: "policy: change window", Before: prev.LastApplied, After: tgt.in.Revision, Outcome: "forced", Error: "applied outside its change window by sync --force-window"})
		return
	}
	next := pol.NextAllowed(now)
	v.held[env], v.frozen[env] = next, true
	p.decide(v, state.Entry{Environment: env, Action: "policy: change window", Before: prev.LastApplied, After: tgt.in.Revision, Outcome: "held", Error: HeldMessage(next)})
	log.Info("change held by a change window", zap.String("environment", env), zap.Time("until", next))
}

// removalPolicy: removing an environment is a change to it too, so an unsigned
// revision that drops a protected environment's file must not prune its container.
func (p *Pipeline) removalPolicy(ctx context.Context, tgt *target, v *verdicts, log *zap.Logger) {
	all, err := p.cfg.State.Statuses(ctx)
	if err != nil {
		return
	}
	for _, prev := range all {
		if _, declared := tgt.fingerprints[prev.Name]; declared || prev.Project != tgt.r.Rendered.Project.Name || prev.LastApplied == "" {
			continue
		}
		pol := p.cfg.Policy.For(prev.Name)
		if pol == nil || pol.KeyRing == "" {
			continue
		}
		if _, err := verify(tgt.in, pol.KeyRing); err != nil {
			why := fmt.Sprintf("revision %s removes %s but is not signed by a key its policy allows: %v", tgt.in.Short, prev.Name, err)
			p.decide(v, state.Entry{Environment: prev.Name, Action: "policy: signature", Before: prev.LastApplied, After: tgt.in.Revision, Outcome: "refused", Error: why})
			v.frozen[prev.Name], v.refused[prev.Name] = true, why
			log.Warn("removal refused by the signer policy", zap.String("environment", prev.Name))
		}
	}
}

// projectPolicy checks the services outside the environments (compose.files): a
// revision that changes them must be signed by one of the project's keys.
func (p *Pipeline) projectPolicy(ctx context.Context, tgt *target, v *verdicts, log *zap.Logger) bool {
	pol := p.cfg.Policy.Project()
	if pol == nil || pol.KeyRing == "" {
		return false
	}
	prev, err := p.cfg.State.Meta(ctx, projectMetaKey(tgt.r.Rendered.Project.Name))
	if err == nil && prev == v.projectFP {
		return false
	}
	_, verr := verify(tgt.in, pol.KeyRing)
	if verr == nil && err == nil {
		return false
	}
	if err != nil {
		verr = err
	}
	why := fmt.Sprintf("revision %s changes the project's services (%s) but is not signed by a key the project policy allows: %v", tgt.in.Short, strings.Join(projectServices(tgt.r.Rendered), ", "), verr)
	p.decide(v, state.Entry{Action: "policy: project signature", After: tgt.in.Revision, Outcome: "refused", Error: why})
	log.Warn("project change refused by the signer policy", zap.String("reason", why))
	return true
}

// envOf is a rendered environment by name.
func envOf(r *compose.Rendered, name string) compose.RenderedEnvironment {
	for _, env := range r.Environments {
		if env.Name == name {
			return env
		}
	}
	return compose.RenderedEnvironment{Name: name}
}

func verify(in Input, keyRing string) (string, error) {
	if in.Verify == nil {
		return "", fmt.Errorf("revision %s comes from a directory, which has no signatures", in.Short)
	}
	return in.Verify(keyRing)
}

// decide audits a policy decision once per environment, revision and outcome.
func (p *Pipeline) decide(v *verdicts, e state.Entry) {
	key := e.After + "|" + e.Action + "|" + e.Outcome
	if p.decided[e.Environment] == key {
		return
	}
	p.decided[e.Environment] = key
	v.decisions = append(v.decisions, e)
}

func projectMetaKey(project string) string { return "project-fingerprint:" + project }

// projectServices are the services of compose.files (not an environment's), sorted.
func projectServices(r *compose.Rendered) []string {
	envServices := map[string]bool{}
	for _, env := range r.Environments {
		envServices[env.Service] = true
	}
	var names []string
	for name := range r.Project.Services {
		if !envServices[name] {
			names = append(names, name)
		}
	}
	sort.Strings(names)
	return names
}

// projectFingerprint identifies the rendering of the project's own services.
func projectFingerprint(r *compose.Rendered) string {
	h := sha256.New()
	for _, name := range projectServices(r) {
		digests, _ := r.MountDigests(name)
		hash, _ := compose.ConfigHash(r.Project.Services[name], compose.HashInputs{MountDigests: digests, RepoRoot: r.Dir})
		fmt.Fprintf(h, "%s=%s\n", name, hash)
	}
	return hex.EncodeToString(h.Sum(nil))
}

// Fingerprint identifies an environment's rendering: its service (with the content of
// its repository mounts), the configuration of the networks it is on, and its model.
// A revision that changes it changes the environment. It is versioned ("v2:"), so a
// fingerprint recorded by an older build is compared with the older formula.
func Fingerprint(r *compose.Rendered, env compose.RenderedEnvironment) string {
	svc := r.Project.Services[env.Service]
	h := sha256.New()
	fmt.Fprintf(h, "%s\x00", legacyFingerprint(r, env))
	for _, key := range sortedNetworks(svc) {
		if n, ok := r.Project.Networks[key]; ok {
			nh, _ := compose.NetworkHash(n)
			fmt.Fprintf(h, "network %s=%s\x00", key, nh)
		}
	}
	return fingerprintVersion + hex.EncodeToString(h.Sum(nil))
}

const fingerprintVersion = "v2:"

// sameFingerprint says whether a recorded fingerprint names this rendering, whichever
// build recorded it.
func sameFingerprint(recorded string, r *compose.Rendered, env compose.RenderedEnvironment, fp string) bool {
	if strings.HasPrefix(recorded, fingerprintVersion) {
		return recorded == fp
	}
	return recorded != "" && recorded == legacyFingerprint(r, env)
}

// legacyFingerprint is the first build's fingerprint: service and model only.
func legacyFingerprint(r *compose.Rendered, env compose.RenderedEnvironment) string {
	svc := r.Project.Services[env.Service]
	digests, _ := r.MountDigests(env.Service)
	hash, _ := compose.ConfigHash(svc, compose.HashInputs{MountDigests: digests, RepoRoot: r.Dir})
	sum := sha256.Sum256([]byte(hash + "\x00" + env.Model + "\x00" + env.SHA256))
	return hex.EncodeToString(sum[:])
}

func sortedNetworks(svc types.ServiceConfig) []string {
	keys := make([]string, 0, len(svc.Networks))
	for k := range svc.Networks {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// HeldMessage says until when a change window holds a change.
func HeldMessage(until time.Time) string {
	if until.IsZero() {
		return "held by a change window (no allowed time within a year: see the policy)"
	}
	return "held by a change window until " + until.UTC().Format(time.RFC3339)
}

// SameRendering says whether a recorded fingerprint (EnvStatus.Fingerprint) names
// env's rendering in r, whichever build recorded it: a preview uses it to tell an
// environment the revision changes from one it leaves as it is, as the policy stage does.
func SameRendering(recorded string, r *compose.Rendered, env compose.RenderedEnvironment) bool {
	return sameFingerprint(recorded, r, env, Fingerprint(r, env))
}

// ProjectChanged says whether r changes the project's own services (compose.files)
// since the last run recorded them: a preview asks it to foresee the project policy.
func ProjectChanged(ctx context.Context, st *state.Store, r *compose.Rendered) (bool, error) {
	prev, err := st.Meta(ctx, projectMetaKey(r.Project.Name))
	if err != nil {
		return true, err
	}
	return prev != projectFingerprint(r), nil
}

// ProjectServices are the services of compose.files (not an environment's), sorted.
func ProjectServices(r *compose.Rendered) []string { return projectServices(r) }
