package notify

import (
	"strings"
	"time"

	"github.com/rasa-gitops/rasa-gitops/forge"
	"github.com/rasa-gitops/rasa-gitops/state"
)

// ContextPrefix names the status of each environment: rasa-gitops/production.
const ContextPrefix = "rasa-gitops/"

// StatusOf is the commit status an environment's status asks for, and whether it asks
// for one (a revision that is not a Git commit, or none yet, has nowhere to go).
// Decisions (held, refused, failed) go on the attempted commit; what runs on the
// applied one.
func StatusOf(st state.EnvStatus) (forge.Status, bool) {
	s := forge.Status{Context: ContextPrefix + st.Name}
	rev := st.LastApplied
	switch st.Sync {
	case state.Synced:
		s.State, s.Description = forge.Success, "serving "+orNone(st.DesiredModel)+" since "+st.Since.UTC().Format("15:04 MST")
	case state.Pending:
		rev, s.State, s.Description = st.LastAttempted, forge.Pending, heldDescription(st.SyncReason)
	case state.Refused:
		rev, s.State, s.Description = st.LastAttempted, forge.Failure, "refused: "+refusal(st.Name, st.SyncReason)
	case state.Failed:
		rev, s.State, s.Description = st.LastAttempted, forge.Failure, "failed: "+firstLine(st.SyncReason)
		if isModelFailure(st) {
			rev, s.State, s.Description = st.LastApplied, forge.Error, orNone(st.DesiredModel)+" failed to load"
		}
	default:
		s.State, s.Description = forge.Pending, firstLine(st.SyncReason)
	}
	s.Commit = commitOf(rev)
	return s, s.Commit != ""
}

// commitOf is the commit hash of a revision (main@sha1:<hash>); "" for others.
func commitOf(rev string) string {
	_, hash, ok := strings.Cut(rev, "@sha1:")
	if !ok || len(hash) != 40 {
		return ""
	}
	return hash
}

// heldDescription turns "held by a change window until <RFC 3339>" into
// "held until Mon 7 Dec 09:00 UTC".
func heldDescription(reason string) string {
	const prefix = "held by a change window until "
	if at, ok := strings.CutPrefix(reason, prefix); ok {
		if t, err := time.Parse(time.RFC3339, at); err == nil {
			return "held until " + t.UTC().Format("Mon 2 Jan 15:04 MST")
		}
	}
	return firstLine(reason)
}

// refusal says why a change was refused, shortly: the signer policy's reason is long.
func refusal(env, reason string) string {
	if strings.Contains(reason, "not signed by a key its policy allows") {
		return "not signed by a signer allowed for " + env
	}
	return firstLine(reason)
}

// isModelFailure: the change was applied and the model failed to load on the server
// (state's "model X failed to load: …; still serving Y").
func isModelFailure(st state.EnvStatus) bool {
	return strings.HasPrefix(st.SyncReason, "model ") && strings.Contains(st.SyncReason, " failed to load")
}

func firstLine(s string) string {
	line, _, _ := strings.Cut(s, "\n")
	return line
}

func orNone(model string) string {
	if model == "" {
		return "no model"
	}
	return model
}
