// Package policy reads the daemon-side policy file (never part of the repository):
// per environment, the OpenPGP keys whose signatures may change it, and the change
// windows (as Argo CD's sync windows) that allow or deny applying a change; the
// project's keys guard the services of compose.files.
//
// In the flow gitsource → compose → reconcile → (Engine, modelserver) → state it is
// consulted by the policy stage of a pipeline run, between render and converge: an
// environment whose change is unsigned is Refused and one outside its windows is
// Pending; both keep what they run while the others converge. See
// docs/ARCHITECTURE.md.
package policy

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/robfig/cron/v3"
	"gopkg.in/yaml.v3"
)

// Policy is the parsed policy file.
type Policy struct {
	envs map[string]*Environment
	// project guards everything outside the environments: the services of
	// compose.files (a new service, an edited database, a removed broker).
	project *Environment
}

// Environment is the policy of one environment.
type Environment struct {
	// KeyRing is the armored public keys allowed to sign its changes; empty means any
	// revision may change it.
	KeyRing string
	Windows []Window
}

// Window allows or denies applying changes for Duration after each activation of
// Schedule.
type Window struct {
	Allow    bool
	Spec     string
	Schedule cron.Schedule
	Duration time.Duration
}

var parser = cron.NewParser(cron.Minute | cron.Hour | cron.Dom | cron.Month | cron.Dow | cron.Descriptor)

type fileFormat struct {
	Project *struct {
		Signers []string `yaml:"signers"`
	} `yaml:"project"`
	// Timezone is the zone schedules are read in (default UTC); an environment's own
	// timezone, or a CRON_TZ= prefix on one schedule, wins.
	Timezone     string `yaml:"timezone"`
	Environments map[string]struct {
		Signers  []string `yaml:"signers"`
		Timezone string   `yaml:"timezone"`
		Windows  []struct {
			Allow    string `yaml:"allow"`
			Deny     string `yaml:"deny"`
			Duration string `yaml:"duration"`
		} `yaml:"windows"`
	} `yaml:"environments"`
}

// zoneOf is the time zone an environment's schedules are read in: its own, else the
// file's, else UTC (never the host's local time: the same policy must mean the same on
// every host).
func zoneOf(env, file string) (string, error) {
	zone := env
	if zone == "" {
		zone = file
	}
	if zone == "" {
		return "UTC", nil
	}
	if _, err := time.LoadLocation(zone); err != nil {
		return "", fmt.Errorf("%q is not a time zone name such as Europe/Berlin", zone)
	}
	return zone, nil
}

// inZone prefixes a schedule with CRON_TZ= unless it names its own zone.
func inZone(spec, zone string) string {
	trimmed := strings.TrimSpace(spec)
	if strings.HasPrefix(trimmed, "TZ=") || strings.HasPrefix(trimmed, "CRON_TZ=") {
		return trimmed
	}
	return "CRON_TZ=" + zone + " " + trimmed
}

// Load reads a policy file; key files are relative to it. Every problem is reported.
func Load(path string) (*Policy, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("policy: %w", err)
	}
	var f fileFormat
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	if err := dec.Decode(&f); err != nil {
		return nil, fmt.Errorf("policy %s: %w", path, err)
	}
	p := &Policy{envs: map[string]*Environment{}}
	var problems []string
	readKeys := func(where string, files []string) string {
		var keys []string
		for _, k := range files {
			kp := k
			if !filepath.IsAbs(kp) {
				kp = filepath.Join(filepath.Dir(path), kp)
			}
			data, err := os.ReadFile(kp)
			if err != nil {
				problems = append(problems, fmt.Sprintf("%s.signers: %v", where, err))
				continue
			}
			if !strings.Contains(string(data), "BEGIN PGP PUBLIC KEY BLOCK") {
				problems = append(problems, fmt.Sprintf("%s.signers: %s is not an armored OpenPGP public key", where, k))
				continue
			}
			keys = append(keys, string(data))
		}
		return strings.Join(keys, "\n")
	}
	if f.Project != nil {
		p.project = &Environment{KeyRing: readKeys("project", f.Project.Signers)}
	}
	for name, e := range f.Environments {
		env := &Environment{KeyRing: readKeys("environments."+name, e.Signers)}
		for i, w := range e.Windows {
			spec, allow := w.Allow, true
			if w.Deny != "" {
				spec, allow = w.Deny, false
			}
			if (w.Allow == "") == (w.Deny == "") {
				problems = append(problems, fmt.Sprintf("environments.%s.windows[%d]: give exactly one of allow: or deny: (a cron expression)", name, i))
				continue
			}
			if strings.HasPrefix(strings.TrimSpace(spec), "@every") {
				problems = append(problems, fmt.Sprintf("environments.%s.windows[%d]: %q has no fixed start times: use a cron expression such as \"0 9 * * 1-5\"", name, i, spec))
				continue
			}
			zone, zerr := zoneOf(e.Timezone, f.Timezone)
			if zerr != nil {
				problems = append(problems, fmt.Sprintf("environments.%s.timezone: %v", name, zerr))
				continue
			}
			sched, err := parser.Parse(inZone(spec, zone))
			if err != nil {
				problems = append(problems, fmt.Sprintf("environments.%s.windows[%d]: %q is not a cron expression: %v", name, i, spec, err))
				continue
			}
			d, err := time.ParseDuration(w.Duration)
			if err != nil || d <= 0 {
				problems = append(problems, fmt.Sprintf("environments.%s.windows[%d]: duration %q must be a positive duration such as 8h", name, i, w.Duration))
				continue
			}
			env.Windows = append(env.Windows, Window{Allow: allow, Spec: spec, Schedule: sched, Duration: d})
		}
		p.envs[name] = env
	}
	if len(problems) > 0 {
		sort.Strings(problems)
		return nil, fmt.Errorf("policy %s:\n%s", path, strings.Join(problems, "\n"))
	}
	return p, nil
}

// Project returns the policy of everything outside the environments (nil: unrestricted).
func (p *Policy) Project() *Environment {
	if p == nil {
		return nil
	}
	return p.project
}

// Names lists the environments the policy names (to warn about typos).
func (p *Policy) Names() []string {
	if p == nil {
		return nil
	}
	return sortedNames(p.envs)
}

// For returns the policy of an environment (nil: unrestricted).
func (p *Policy) For(env string) *Environment {
	if p == nil {
		return nil
	}
	return p.envs[env]
}

// contains reports whether t is inside one of w's windows: an activation a with
// a <= t < a + duration.
func (w Window) contains(t time.Time) bool {
	return !w.Schedule.Next(t.Add(-w.Duration)).After(t)
}

// Allowed reports whether a change may be applied at t: inside an allow window (when
// the environment has any) and outside every deny window.
func (e *Environment) Allowed(t time.Time) bool {
	if e == nil || len(e.Windows) == 0 {
		return true
	}
	hasAllow, inAllow := false, false
	for _, w := range e.Windows {
		if w.Allow {
			hasAllow = true
			inAllow = inAllow || w.contains(t)
		} else if w.contains(t) {
			return false
		}
	}
	return !hasAllow || inAllow
}

// NextAllowed is the first time from t on when a change may be applied (t itself when
// allowed now); zero when none comes within a year.
func (e *Environment) NextAllowed(t time.Time) time.Time {
	if e.Allowed(t) {
		return t
	}
	candidates := []time.Time{}
	horizon := t.Add(366 * 24 * time.Hour)
	for _, w := range e.Windows {
		at := t
		for i := 0; i < 600000; i++ { // a minute-by-minute schedule for a year, at most
			a := w.Schedule.Next(at.Add(-w.Duration))
			if a.IsZero() || a.After(horizon) {
				break
			}
			if w.Allow {
				candidates = append(candidates, a)
			} else {
				candidates = append(candidates, a.Add(w.Duration))
			}
			at = a.Add(w.Duration)
		}
	}
	sort.Slice(candidates, func(i, j int) bool { return candidates[i].Before(candidates[j]) })
	for _, c := range candidates {
		if !c.Before(t) && e.Allowed(c) {
			return c
		}
	}
	return time.Time{}
}

// AllKeys is every key of the policy, to name who signed a revision.
func (p *Policy) AllKeys() string {
	if p == nil {
		return ""
	}
	var keys []string
	if p.project != nil && p.project.KeyRing != "" {
		keys = append(keys, p.project.KeyRing)
	}
	for _, name := range sortedNames(p.envs) {
		if k := p.envs[name].KeyRing; k != "" {
			keys = append(keys, k)
		}
	}
	return strings.Join(keys, "\n")
}

func sortedNames(m map[string]*Environment) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}
