package policy

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func write(t *testing.T, files map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	for name, content := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return filepath.Join(dir, "policy.yaml")
}

func TestWindows(t *testing.T) {
	p, err := Load(write(t, map[string]string{"policy.yaml": `environments:
  production:
    windows:
      - allow: "0 9 * * 1-5"   # weekdays 09:00-17:00 UTC
        duration: 8h
      - deny: "0 12 26 11 *"   # but not on 26 Nov from noon, for 2h
        duration: 2h
`}))
	if err != nil {
		t.Fatal(err)
	}
	prod := p.For("production")
	at := func(s string) time.Time {
		t.Helper()
		tm, err := time.Parse(time.RFC3339, s)
		if err != nil {
			t.Fatal(err)
		}
		return tm
	}
	cases := []struct {
		t       string
		allowed bool
		next    string
	}{
		{"2026-11-26T10:00:00Z", true, "2026-11-26T10:00:00Z"},  // Thursday morning
		{"2026-11-26T12:30:00Z", false, "2026-11-26T14:00:00Z"}, // the deny window
		{"2026-11-26T18:00:00Z", false, "2026-11-27T09:00:00Z"}, // after hours
		{"2026-11-28T10:00:00Z", false, "2026-11-30T09:00:00Z"}, // Saturday
		{"2026-11-26T16:59:00Z", true, "2026-11-26T16:59:00Z"},
		{"2026-11-26T17:00:00Z", false, "2026-11-27T09:00:00Z"},
	}
	for _, c := range cases {
		if got := prod.Allowed(at(c.t)); got != c.allowed {
			t.Errorf("%s allowed = %v", c.t, got)
		}
		if got := prod.NextAllowed(at(c.t)); !got.Equal(at(c.next)) {
			t.Errorf("%s next allowed = %s, want %s", c.t, got, c.next)
		}
	}
	if p.For("worker") != nil || !p.For("worker").Allowed(time.Now()) {
		t.Error("an environment without policy must be unrestricted")
	}
}

func TestLoadReportsEveryProblem(t *testing.T) {
	_, err := Load(write(t, map[string]string{"policy.yaml": `environments:
  production:
    signers: [missing.asc, notakey.asc]
    windows:
      - allow: "not cron"
        duration: 1h
      - allow: "* * * * *"
        deny: "* * * * *"
        duration: 1h
      - deny: "@daily"
        duration: "-1h"
`, "notakey.asc": "hello"}))
	if err == nil {
		t.Fatal("a broken policy was accepted")
	}
	for _, want := range []string{"missing.asc", "notakey.asc is not an armored OpenPGP public key", "\"not cron\" is not a cron expression", "exactly one of allow: or deny:", "positive duration"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error lacks %q:\n%v", want, err)
		}
	}
	if _, err := Load(write(t, map[string]string{"policy.yaml": "environmentz: {}\n"})); err == nil {
		t.Error("an unknown key was accepted")
	}
}

// TestWindowsAreUTCWhateverTheHostZone: a window means the same on every host. The
// host's zone is New York while the policy is read, and the instant is given in
// several zones; the answer follows the policy's zone (UTC unless it names one).
func TestWindowsAreUTCWhateverTheHostZone(t *testing.T) {
	ny, err := time.LoadLocation("America/New_York")
	if err != nil {
		t.Fatal(err)
	}
	local := time.Local
	time.Local = ny
	t.Cleanup(func() { time.Local = local })
	p, err := Load(write(t, map[string]string{"policy.yaml": `environments:
  production:
    windows:
      - allow: "0 9 * * 1-5"
        duration: 8h
  berlin:
    timezone: Europe/Berlin
    windows:
      - allow: "0 9 * * 1-5"
        duration: 8h
  tokyo:
    windows:
      - allow: "CRON_TZ=Asia/Tokyo 0 9 * * 1-5"
        duration: 8h
`}))
	if err != nil {
		t.Fatal(err)
	}
	// Thursday 2026-11-26 08:30 UTC: before 09:00 UTC, after 09:00 in Berlin (09:30),
	// and 17:30 in Tokyo (past its 09:00-17:00 window).
	utc := time.Date(2026, 11, 26, 8, 30, 0, 0, time.UTC)
	for _, zone := range []string{"UTC", "America/New_York", "Asia/Kolkata", "Pacific/Auckland"} {
		loc, err := time.LoadLocation(zone)
		if err != nil {
			t.Fatal(err)
		}
		at := utc.In(loc)
		if p.For("production").Allowed(at) {
			t.Errorf("%s: production allowed at 08:30 UTC", zone)
		}
		if !p.For("berlin").Allowed(at) {
			t.Errorf("%s: berlin refused at 09:30 Berlin time", zone)
		}
		if p.For("tokyo").Allowed(at) {
			t.Errorf("%s: tokyo allowed at 17:30 Tokyo time", zone)
		}
		if next := p.For("production").NextAllowed(at); !next.Equal(time.Date(2026, 11, 26, 9, 0, 0, 0, time.UTC)) {
			t.Errorf("%s: production next allowed %v", zone, next.UTC())
		}
		if ten := time.Date(2026, 11, 26, 10, 0, 0, 0, time.UTC).In(loc); !p.For("production").Allowed(ten) {
			t.Errorf("%s: production refused on Thursday 10:00 UTC", zone)
		}
	}
}

func TestUnknownTimezoneIsRefused(t *testing.T) {
	_, err := Load(write(t, map[string]string{"policy.yaml": "environments:\n  production:\n    timezone: Mars/Olympus\n    windows:\n      - allow: \"0 9 * * *\"\n        duration: 1h\n"}))
	if err == nil || !strings.Contains(err.Error(), "Mars/Olympus") {
		t.Errorf("err = %v", err)
	}
}
