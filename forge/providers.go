package forge

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
)

// github posts to POST /repos/{owner}/{repo}/statuses/{sha}
// (docs.github.com/rest/commits/statuses), with a bearer token.
type github struct{ poster }

func (g github) SetStatus(ctx context.Context, s Status) error {
	h := http.Header{}
	h.Set("Authorization", "Bearer "+g.token)
	h.Set("Accept", "application/vnd.github+json")
	h.Set("X-GitHub-Api-Version", "2022-11-28")
	return wrap(s, g.post(ctx, "/repos/"+g.repo+"/statuses/"+s.Commit, h, statusBody(s, 140)))
}

// gitea posts to POST /repos/{owner}/{repo}/statuses/{sha} (Gitea's API v1), with
// "Authorization: token". Its states are GitHub's.
type gitea struct{ poster }

func (g gitea) SetStatus(ctx context.Context, s Status) error {
	h := http.Header{}
	h.Set("Authorization", "token "+g.token)
	h.Set("Accept", "application/json")
	return wrap(s, g.post(ctx, "/repos/"+g.repo+"/statuses/"+s.Commit, h, statusBody(s, 255)))
}

// gitlab posts to POST /projects/{id}/statuses/{sha} (docs.gitlab.com/api/commits,
// "Set the pipeline status of a commit") with PRIVATE-TOKEN. GitLab has no error
// state: failure and error are both "failed"; the context is its "name".
type gitlab struct{ poster }

func (g gitlab) SetStatus(ctx context.Context, s Status) error {
	h := http.Header{}
	h.Set("PRIVATE-TOKEN", g.token)
	state := string(s.State)
	if s.State == Failure || s.State == Error {
		state = "failed"
	}
	body := map[string]string{"state": state, "name": s.Context, "description": truncate(s.Description, 255)}
	if s.TargetURL != "" {
		body["target_url"] = s.TargetURL
	}
	return wrap(s, g.post(ctx, "/projects/"+url.PathEscape(g.repo)+"/statuses/"+s.Commit, h, body))
}

func statusBody(s Status, limit int) map[string]string {
	body := map[string]string{"state": string(s.State), "context": s.Context, "description": truncate(s.Description, limit)}
	if s.TargetURL != "" {
		body["target_url"] = s.TargetURL
	}
	return body
}

// wrap names the status in an error, once, at the forge boundary.
func wrap(s Status, err error) error {
	if err == nil {
		return nil
	}
	short := s.Commit
	if len(short) > 12 {
		short = short[:12]
	}
	return fmt.Errorf("post status %s=%s on %s: %w", s.Context, s.State, short, err)
}
