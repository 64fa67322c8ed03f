package pipeline

import (
	"context"
	"errors"
	"fmt"
	"os/user"
	"time"

	"go.uber.org/zap"

	"github.com/rasa-gitops/rasa-gitops/compose"
	"github.com/rasa-gitops/rasa-gitops/reconcile"
	"github.com/rasa-gitops/rasa-gitops/state"
)

// Outcome is a run's result in one word, as logs and metrics name it.
type Outcome string

// Outcomes.
const (
	OutcomeUnchanged   Outcome = "unchanged"    // nothing to do: the host matched
	OutcomeHealed      Outcome = "healed"       // drift corrected, no new revision
	OutcomeApplied     Outcome = "applied"      // the revision is applied
	OutcomePartial     Outcome = "partial"      // applied, but some environments are held or refused
	OutcomeRefused     Outcome = "refused"      // the revision did not render (the last good one is enforced)
	OutcomeFailed      Outcome = "failed"       // an action, a model or the record failed
	OutcomeFetchFailed Outcome = "fetch-failed" // no revision could be read
	OutcomePlanned     Outcome = "planned"      // a dry run
)

// Report is what one run did, for the caller to print and the daemon to log.
type Report struct {
	Revision string
	// InputID is the ID of the input the run read (Input.ID: a commit hash, or a
	// directory's fingerprint taken before it was rendered).
	InputID string
	Outcome Outcome
	Plan    reconcile.Plan
	Result  reconcile.Result
	Models  []reconcile.ModelStatus
	// Err is why the containers could not be converged; SourceErr why the source
	// could not be read; RecordErr why the state could not be written.
	Err, SourceErr, RecordErr error
	Refusal                   *refusal
	Statuses                  []state.EnvStatus
	Duration                  time.Duration
	// NewRevision says the run rendered a revision it had not applied before.
	NewRevision bool
	// Desired and Rendered are what the run enforced (nil before a good rendering).
	Desired  *reconcile.Desired
	Rendered *compose.Rendered
}

// RefusalErr is why the revision was refused (nil when it was not).
func (r Report) RefusalErr() error {
	if r.Refusal == nil {
		return nil
	}
	return r.Refusal.err
}

// ModelsErr joins the problems of environments not model-synced (loads still running
// are not problems).
func (r Report) ModelsErr() error {
	var errs []error
	for _, m := range r.Models {
		if !m.Synced && !m.Loading && !m.Kept {
			err := m.Err
			if err == nil {
				err = errors.New("not model-synced")
			}
			errs = append(errs, fmt.Errorf("environment %s: %w", m.Environment, err))
		}
	}
	return errors.Join(errs...)
}

// report is the report stage: the outcome, readiness, log lines and metrics.
func (p *Pipeline) report(ctx context.Context, rep Report, start time.Time, log *zap.Logger) Report {
	rep.Duration = p.cfg.Now().Sub(start)
	rep.Outcome = outcomeOf(rep, p.current)
	p.setReady(readyOf(rep))
	log = log.With(zap.String("revision", rep.Revision))
	LogActions(log, rep.Result)
	LogModels(log, rep.Models)
	if rep.RecordErr != nil {
		log.Error("cannot record the run", zap.Error(rep.RecordErr))
	}
	if rep.Outcome != OutcomeUnchanged {
		log.Info("reconciled", zap.String("outcome", string(rep.Outcome)), zap.Duration("duration", rep.Duration))
	}
	p.exportAnchor(ctx, log)
	if (p.cfg.Metrics != nil || p.cfg.StatusHook != nil) && rep.Statuses == nil {
		rep.Statuses = p.statuses(ctx)
	}
	if p.cfg.Metrics != nil {
		p.cfg.Metrics.ObserveRun(string(rep.Outcome), rep.Duration)
		p.cfg.Metrics.SetStatuses(rep.Statuses)
	}
	if p.cfg.StatusHook != nil {
		p.statusHook(ctx)
	}
	return rep
}

// statusHook gives StatusHook the statuses as they are now, read under the lock every
// record takes: a model load recorded while the run was reporting has delivered its
// statuses already, and the run's older view must not follow them (a forge would show
// "loading" again after "serving").
func (p *Pipeline) statusHook(ctx context.Context) {
	p.recordMu.Lock()
	defer p.recordMu.Unlock()
	p.cfg.StatusHook(p.statuses(ctx))
}

func outcomeOf(rep Report, current *target) Outcome {
	switch {
	case rep.Outcome != "":
		return rep.Outcome
	case rep.Refusal != nil:
		return OutcomeRefused
	case rep.Err != nil || rep.Result.Err() != nil || rep.RecordErr != nil || rep.ModelsErr() != nil:
		return OutcomeFailed
	case rep.NewRevision && current != nil && len(current.frozen) > 0:
		return OutcomePartial
	case rep.NewRevision:
		return OutcomeApplied
	case !rep.Plan.Empty():
		return OutcomeHealed
	default:
		return OutcomeUnchanged
	}
}

func readyOf(rep Report) (bool, string) {
	switch {
	case rep.SourceErr != nil:
		return false, "cannot read the revision: " + firstLine(rep.SourceErr.Error())
	case rep.Refusal != nil:
		return false, "revision " + rep.Refusal.in.Short + " refused: " + firstLine(rep.Refusal.err.Error())
	case rep.Err != nil:
		return false, "the last reconcile failed: " + firstLine(rep.Err.Error())
	case rep.Result.Err() != nil:
		return false, "the last reconcile failed: " + firstLine(rep.Result.Err().Error())
	case rep.RecordErr != nil:
		return false, "cannot record the run: " + firstLine(rep.RecordErr.Error())
	case rep.ModelsErr() != nil:
		return false, "the last reconcile failed: " + firstLine(rep.ModelsErr().Error())
	}
	return true, ""
}

// statuses reads every environment's status ("nil" when the state cannot be read).
func (p *Pipeline) statuses(ctx context.Context) []state.EnvStatus {
	rows, err := p.cfg.State.Statuses(context.WithoutCancel(ctx))
	if err != nil {
		return nil
	}
	return rows
}

// collect lets the source drop files of revisions nothing uses.
func (p *Pipeline) collect(ctx context.Context, tgt *target) {
	c, ok := p.cfg.Source.(Collector)
	if !ok {
		return
	}
	keep := []string{tgt.in.ID}
	if p.refused != nil {
		keep = append(keep, p.refused.in.ID)
	}
	c.Collect(context.WithoutCancel(ctx), p.cfg.Engine, keep)
}

// loadDone records a model load that ended in the background: the environment's
// observation changes, its status follows.
func (p *Pipeline) loadDone(res reconcile.LoadResult) {
	p.recordLoad(res)
	if p.cfg.LoadRecorded != nil {
		p.cfg.LoadRecorded(res)
	}
}

func (p *Pipeline) recordLoad(res reconcile.LoadResult) {
	p.recordMu.Lock()
	defer p.recordMu.Unlock()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	prev, err := p.cfg.State.Status(ctx, res.Environment)
	if err != nil || prev.Project == "" || prev.DesiredModel != res.Model {
		return // not recorded yet, or superseded: the run's record stage has it
	}
	now := p.cfg.Now()
	ob := state.Observation{At: now, Container: "running", Asked: res.Asked, Served: res.Served}
	if !res.Synced && res.Err != nil {
		ob.ModelErr = res.Err.Error()
	}
	next := state.Next(prev, state.Outcome{Observed: &ob, KeepSource: true}, now)
	entries := append(conditionEntries(prev, next, prev.LastApplied), loadEntries(prev, next, prev.LastApplied)...)
	for i := range entries {
		entries[i].Time, entries[i].Author = now, "rasa-gitops"
	}
	if err := p.cfg.State.Commit(ctx, []state.EnvStatus{next}, entries); err != nil {
		p.log.Error("cannot record a model load", zap.String("environment", res.Environment), zap.Error(err))
		// Not ready until a load is recorded again: the audit log misses this one.
		p.loadRecorded("cannot record the model load of " + res.Environment + ": " + firstLine(err.Error()))
	} else {
		p.loadRecorded("")
	}
	p.log.Info("model load ended", zap.String("environment", res.Environment), zap.String("model", res.Model), zap.String("serves", res.Served),
		zap.Bool("model_synced", res.Synced), zap.Duration("duration", res.Duration), zap.NamedError("reason", res.Err))
	if p.cfg.Metrics != nil || p.cfg.StatusHook != nil {
		rows := p.statuses(ctx)
		if p.cfg.Metrics != nil {
			p.cfg.Metrics.SetStatuses(rows)
		}
		if p.cfg.StatusHook != nil {
			p.cfg.StatusHook(rows)
		}
	}
}

// LogActions writes one log line per action of a run: target, kind, reason, outcome.
func LogActions(log *zap.Logger, res reconcile.Result) {
	for _, a := range res.Actions {
		fields := []zap.Field{zap.String("target", a.Action.Target), zap.String("action", string(a.Action.Kind)), zap.String("reason", a.Action.Reason), zap.String("outcome", string(a.Outcome)), zap.Duration("duration", a.Duration)}
		if a.Err != nil {
			log.Warn("action failed", append(fields, zap.Error(a.Err))...)
		} else {
			log.Info("action", fields...)
		}
	}
}

// LogModels writes one log line per environment: declared model, served model, sync,
// and why it is not synced (a digest mismatch, a load that failed).
func LogModels(log *zap.Logger, statuses []reconcile.ModelStatus) {
	for _, ms := range statuses {
		fields := []zap.Field{zap.String("environment", ms.Environment), zap.String("model", ms.Model), zap.String("serves", ms.Served),
			zap.Bool("model_synced", ms.Synced), zap.Bool("retagged", ms.Retagged), zap.Bool("loading", ms.Loading)}
		if ms.Err != nil {
			log.Warn("environment", append(fields, zap.Error(ms.Err))...)
			continue
		}
		log.Info("environment", fields...)
	}
}

// LocalAuthor names who ran a directory apply, for the audit log (Git commits carry
// their own author).
func LocalAuthor() string {
	if u, err := user.Current(); err == nil && u.Username != "" {
		return "local:" + u.Username
	}
	return "local"
}

// exportAnchor publishes the audit chain's head when it moved since the last export:
// a log line ("audit anchor", audit_rows, audit_head), the metrics and the
// AnchorSink. A head that cannot be read or pushed is logged and tried again next run.
func (p *Pipeline) exportAnchor(ctx context.Context, log *zap.Logger) {
	head, err := p.cfg.State.Head(context.WithoutCancel(ctx))
	if err != nil {
		log.Error("cannot read the audit chain's head", zap.Error(err))
		return
	}
	if head.Rows == p.anchored.Rows && head.Hash == p.anchored.Hash {
		return
	}
	var sinkErr error
	if p.cfg.AnchorSink != nil {
		sinkErr = p.cfg.AnchorSink(context.WithoutCancel(ctx), head)
	}
	log.Info("audit anchor", zap.Int64("audit_rows", head.Rows), zap.String("audit_head", head.Hash))
	if sinkErr != nil {
		log.Error("cannot push the audit anchor; trying again after the next run", zap.Error(sinkErr))
	} else {
		p.anchored = head
	}
	if p.cfg.Metrics != nil {
		p.cfg.Metrics.SetAuditHead(head, sinkErr)
	}
}
