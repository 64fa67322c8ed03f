package ui

import (
	"fmt"
	"html/template"
	"time"

	"github.com/docker/go-units"
)

// funcs are the templates' helpers.
func funcs(now func() time.Time) template.FuncMap {
	return template.FuncMap{
		"shortDigest": shortDigest,
		"ago":         func(t time.Time) string { return ago(t, now()) },
		"utc":         func(t time.Time) string { return utc(t) },
		"size":        func(n int64) string { return units.BytesSize(float64(n)) },
		"shortRev":    func(s string) string { return parseRevision(s, "").Short },
		"lower":       func(s any) string { return lowerWord(fmt.Sprint(s)) },
	}
}

// shortDigest is the first 12 hex digits of a sha256, as "sha256:…".
func shortDigest(d string) string {
	if len(d) < 12 {
		return d
	}
	return "sha256:" + d[:12]
}

func utc(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format("2006-01-02 15:04:05Z")
}

// ago says how long ago t was, in words.
func ago(t, now time.Time) string {
	if t.IsZero() {
		return "never"
	}
	d := now.Sub(t)
	switch {
	case d < time.Minute:
		return "just now"
	case d < time.Hour:
		return fmt.Sprintf("%d min ago", int(d.Minutes()))
	case d < 48*time.Hour:
		return fmt.Sprintf("%d h ago", int(d.Hours()))
	default:
		return fmt.Sprintf("%d days ago", int(d.Hours()/24))
	}
}

// lowerWord is a status as a CSS class suffix.
func lowerWord(s string) string {
	out := make([]byte, 0, len(s))
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c >= 'A' && c <= 'Z':
			out = append(out, c+'a'-'A')
		case c >= 'a' && c <= 'z', c >= '0' && c <= '9':
			out = append(out, c)
		}
	}
	return string(out)
}
