package reconcile

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"strings"

	"github.com/compose-spec/compose-go/v2/types"
	"github.com/docker/docker/api/types/volume"

	"github.com/rasa-gitops/rasa-gitops/compose"
)

// volumeAdvice ends the refusal of a changed volume.
const volumeAdvice = "rasa-gitops never deletes a volume's data: run `rasa-gitops down --volumes` (which deletes its data) or restore the old configuration"

// bookkeepingLabels are the labels rasa-gitops adds to a volume beside the declared ones.
var bookkeepingLabels = []string{compose.LabelProject, compose.LabelManaged, compose.LabelComposeVersion, compose.LabelConfigHash, "com.docker.compose.volume"}

// RefuseChangedVolumes refuses a declaration whose managed volumes no longer match
// what they were created with (their config-hash label differs from hashes, by key).
// Applying the change would mean deleting the volume and its data, which rasa-gitops
// never does implicitly: a NeedsPersonError names each volume and what differs
// (driver, driver_opts, labels). A volume without a hash label (created by an older
// rasa-gitops) is unknown and accepted, as docker compose accepts it. One list call,
// and none when the project declares no volume of its own.
func RefuseChangedVolumes(ctx context.Context, engine Engine, p *types.Project, hashes map[string]string) error {
	if len(hashes) == 0 {
		return nil
	}
	list, err := engine.VolumeList(ctx, volume.ListOptions{Filters: projectFilter(p.Name)})
	if err != nil {
		return fmt.Errorf("observe volumes: %w", err)
	}
	byName := make(map[string]volume.Volume, len(list.Volumes))
	for _, v := range list.Volumes {
		if v != nil {
			byName[v.Name] = *v
		}
	}
	var changed []string
	for _, key := range slices.Sorted(maps.Keys(hashes)) {
		want := p.Volumes[key]
		have, ok := byName[want.Name]
		if !ok {
			continue // created by the plan
		}
		got := have.Labels[compose.LabelConfigHash]
		if got == "" || got == hashes[key] {
			continue
		}
		changed = append(changed, fmt.Sprintf("volume %s: %s", want.Name, volumeDiff(want, have, hashes[key])))
	}
	if len(changed) == 0 {
		return nil
	}
	return &NeedsPersonError{fmt.Errorf("%s; %s", strings.Join(changed, "; "), volumeAdvice)}
}

// volumeDiff says what differs between an existing volume and its declaration.
func volumeDiff(want types.VolumeConfig, have volume.Volume, wantHash string) string {
	var parts []string
	driver := want.Driver
	if driver == "" {
		driver = "local"
	}
	if have.Driver != driver {
		parts = append(parts, fmt.Sprintf("driver changed (%s → %s)", have.Driver, driver))
	}
	if d := mapDiff(have.Options, want.DriverOpts); d != "" {
		parts = append(parts, "driver_opts changed ("+d+")")
	}
	if d := mapDiff(declaredLabels(have.Labels), declaredLabels(want.Labels)); d != "" {
		parts = append(parts, "labels changed ("+d+")")
	}
	if len(parts) == 0 {
		// Same driver, options and labels: hashed by another tool or another version.
		return fmt.Sprintf("configuration changed (config hash %s → %s)", shortHash(have.Labels[compose.LabelConfigHash]), shortHash(wantHash))
	}
	return strings.Join(parts, " and ")
}

// declaredLabels are labels without rasa-gitops' and Compose's bookkeeping ones.
func declaredLabels(labels map[string]string) map[string]string {
	out := map[string]string{}
	for k, v := range labels {
		out[k] = v
	}
	for _, k := range bookkeepingLabels {
		delete(out, k)
	}
	return out
}

// mapDiff lists the keys whose values differ, in order: "key: old → new", "(unset)"
// for a missing one. Values that may be credentials (a CIFS password in o:) are not
// printed: the message goes to logs and the audit log.
func mapDiff(old, new map[string]string) string {
	keys := map[string]bool{}
	for k := range old {
		keys[k] = true
	}
	for k := range new {
		keys[k] = true
	}
	var out []string
	for _, k := range slices.Sorted(maps.Keys(keys)) {
		o, hadOld := old[k]
		n, hasNew := new[k]
		if hadOld == hasNew && o == n {
			continue
		}
		if sensitive(k, o) || sensitive(k, n) {
			out = append(out, k+": changed (value not shown)")
			continue
		}
		out = append(out, fmt.Sprintf("%s: %s → %s", k, shown(o, hadOld), shown(n, hasNew)))
	}
	return strings.Join(out, ", ")
}

func shown(v string, set bool) string {
	if !set {
		return "(unset)"
	}
	if v == "" {
		return `""`
	}
	return v
}

func sensitive(k, v string) bool {
	s := strings.ToLower(k + "=" + v)
	for _, w := range []string{"pass", "secret", "token", "credential"} {
		if strings.Contains(s, w) {
			return true
		}
	}
	return false
}
