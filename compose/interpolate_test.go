package compose

import (
	"fmt"
	"strings"
	"testing"
)

func TestInterpolate(t *testing.T) {
	env := MapLookup(map[string]string{"SET": "value", "EMPTY": "", "NESTED": "inner"})
	tests := []struct {
		in, want string
		missing  []string
		err      string
	}{
		{in: "plain", want: "plain"},
		{in: "${SET}", want: "value"},
		{in: "$SET/x", want: "value/x"},
		{in: "a$$b", want: "a$b"},
		{in: "trailing$", want: "trailing$"},
		{in: "${UNSET}", missing: []string{"UNSET"}},
		{in: "$UNSET and ${ALSO}", missing: []string{"UNSET", "ALSO"}},
		{in: "${UNSET:-fallback}", want: "fallback"},
		{in: "${EMPTY:-fallback}", want: "fallback"},
		{in: "${EMPTY-fallback}", want: ""},
		{in: "${UNSET-fallback}", want: "fallback"},
		{in: "${UNSET:-${NESTED}}", want: "inner"},
		{in: "${UNSET:-${DEEPER}}", missing: []string{"DEEPER"}},
		{in: "${SET:+alt}", want: "alt"},
		{in: "${UNSET:+alt}", want: ""},
		{in: "${SET+alt}", want: "alt"},
		{in: "${SET:?must be set}", want: "value"},
		{in: "${UNSET:?must be set}", err: "variable UNSET is not set: must be set"},
		{in: "${UNSET?}", err: "variable UNSET is not set: is required"},
		{in: "${UNCLOSED", err: "unterminated ${"},
		{in: "${1BAD}", err: "invalid variable name"},
		{in: "${}", err: "invalid variable name"},
		{in: "${SET!x}", err: "invalid interpolation"},
		// As in Compose, a $ that starts no expression is kept: only ${ must be valid.
		{in: "$!", want: "$!"},
		{in: "costs $5", want: "costs $5"},
		{in: "100%$", want: "100%$"},
		// Compose's blanks: an unset ${VAR} is missing, an unset ${VAR:+alt} is not,
		// whether or not the same variable also appears with a default.
		{in: "${UNSET:+alt}${UNSET:-dflt}", want: "dflt"},
		{in: "${UNSET+alt}/${UNSET}", missing: []string{"UNSET"}},
		{in: "${SET:-${UNSET}}", want: "value"},
		{in: "${EMPTY:+${UNSET}}", want: ""},
		{in: "${SET:+${UNSET}}", missing: []string{"UNSET"}},
		{in: "$UNSET$UNSET", missing: []string{"UNSET"}},
		{in: "${SET:-a}${NESTED}-${UNSET-x}", want: "valueinner-x"},
		{in: "${UNSET?}x", err: "variable UNSET is not set: is required"},
		{in: "${EMPTY:?}", err: "variable EMPTY is not set: is required"},
		{in: "${EMPTY?}", want: ""},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, missing, err := interpolate(tt.in, env)
			if tt.err != "" {
				if err == nil || !strings.Contains(err.Error(), tt.err) {
					t.Fatalf("err = %v, want it to contain %q", err, tt.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if strings.Join(missing, ",") != strings.Join(tt.missing, ",") {
				t.Errorf("missing = %v, want %v", missing, tt.missing)
			}
			if len(tt.missing) == 0 && got != tt.want {
				t.Errorf("got %q, want %q", got, tt.want)
			}
		})
	}
}

func TestInterpolationErrorsNeverCarryValues(t *testing.T) {
	secret := "s3cr3t-value-123"
	env := MapLookup(map[string]string{"TOKEN": secret})
	for _, in := range []string{"${TOKEN!}", "${TOKEN:?x} ${MISSING:?gone}", "$TOKEN ${", "${MISSING:?not ${TOKEN}}", "${TOKEN:+${MISSING?token is $TOKEN}}"} {
		_, _, err := interpolate(in, env)
		if err == nil {
			t.Fatalf("%q: want an error", in)
		}
		if strings.Contains(err.Error(), secret) {
			t.Errorf("%q: error carries the secret: %v", in, err)
		}
	}
}

// TestInterpolateLooksUpWhatComposeReads: the variables looked up (those whose values
// the daemon masks) are the ones Compose reads: not those of a default it does not use,
// nor an escaped $$NAME.
func TestInterpolateLooksUpWhatComposeReads(t *testing.T) {
	env := map[string]string{"SET": "value", "ALT": "alt"}
	asked := map[string]int{}
	lookup := func(name string) (string, bool) {
		asked[name]++
		v, ok := env[name]
		return v, ok
	}
	got, missing, err := interpolate("${SET:-${OTHER}} $$NOT ${UNSET:-${DEFAULTED:-d}} ${SET:+${ALT}} $SET", lookup)
	if err != nil || len(missing) != 0 || got != "value $NOT d alt value" {
		t.Fatalf("got %q, %v, %v", got, missing, err)
	}
	want := map[string]int{"SET": 1, "UNSET": 1, "DEFAULTED": 1, "ALT": 1}
	if fmt.Sprint(asked) != fmt.Sprint(want) {
		t.Errorf("looked up %v, want %v", asked, want)
	}
}

func TestParseEnvFile(t *testing.T) {
	got, err := ParseEnvFile("daemon.env", []byte("# comment\nA=1\nexport B = two \nC=\"quoted value\"\nD='single'\n\nE=\n"))
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{"A": "1", "B": "two", "C": "quoted value", "D": "single", "E": ""}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s = %q, want %q", k, got[k], v)
		}
	}
	if len(got) != len(want) {
		t.Errorf("got %v", got)
	}
	// dotenv stops at the first problem (and, as Compose, accepts 9BAD=x).
	_, err = ParseEnvFile("daemon.env", []byte("GOOD=1\nnot a pair s3cr3t\n9BAD=x\n"))
	if err == nil || err.Error() != "daemon.env:2:1: expected KEY=VALUE with KEY made of letters, digits and _" {
		t.Errorf("err = %v", err)
	}
	if strings.Contains(err.Error(), "s3cr3t") {
		t.Error("env file error carries a value")
	}
}

func TestParsePublish(t *testing.T) {
	for in, want := range map[string]Publish{
		"5005":           {HostPort: 5005},
		"127.0.0.1:5005": {HostIP: "127.0.0.1", HostPort: 5005},
		"[::1]:80":       {HostIP: "::1", HostPort: 80},
	} {
		got, err := parsePublish(in)
		if err != nil || got != want {
			t.Errorf("%q → %+v, %v; want %+v", in, got, err, want)
		}
		if again, err := parsePublish(got.String()); err != nil || again != got {
			t.Errorf("%q does not round-trip: %q, %v", in, got.String(), err)
		}
	}
	for _, bad := range []string{"", "0", "65536", "host:80", "::1:80", "1.2.3.4:x"} {
		if _, err := parsePublish(bad); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}
