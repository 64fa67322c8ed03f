// Package ui is the status page for the people who run the assistants: a read-only,
// server-rendered view of what the state already records — each environment's
// declared and served model, sync and health with their reasons, the revision and
// who made it, changes held or refused; the models in use, used before and kept in
// the store; the audit log with its chain's anchor.
//
// It sits beside the API at the end of the flow (gitsource → compose → reconcile →
// (Engine, modelserver) → state → api/ui): it reads the state database and the model
// store and never writes to either. Pages are html/template renderings of embedded
// templates; the stylesheet and the one script (a periodic fetch of the environments
// fragment) are embedded files, so every response carries a Content-Security-Policy
// without inline code. Access takes the API token (or a read-only UI token) once, at a
// login form that sets an HMAC-derived session cookie: the token itself is never sent
// back, stored in the cookie, or rendered.
package ui
