package compose

import (
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/compose-spec/compose-go/v2/template"
)

// Lookup finds the value of a variable in the daemon's environment. Declarations are
// interpolated from the daemon's own environment and --env-file, never from the
// repository, so secrets stay out of Git.
type Lookup func(name string) (string, bool)

// MapLookup adapts a map (process environment merged with an env file) to a Lookup.
func MapLookup(env map[string]string) Lookup {
	return func(name string) (string, bool) {
		v, ok := env[name]
		return v, ok
	}
}

// interpolationError is a problem with one ${...} expression. It never carries a
// variable's value, only its name, because values are often secrets.
type interpolationError struct{ msg string }

func (e *interpolationError) Error() string { return e.msg }

// interpolate expands s with compose-go's template package, the one Docker Compose
// uses: $VAR, ${VAR}, ${VAR:-default}, ${VAR-default}, ${VAR:?message}, ${VAR?message},
// ${VAR:+alternative} and ${VAR+alternative}, defaults nesting further expressions,
// $$ standing for a literal $, and a $ that starts no expression left as it is.
// missing lists the variables Compose would replace by "" (unset, and no default
// applies); err never quotes a variable's value.
func interpolate(s string, lookup Lookup) (out string, missing []string, err error) {
	if !strings.Contains(s, "$") {
		return s, nil, nil
	}
	sub := newSubstitution(s, lookup)
	masked, err := sub.run(0)
	// A lookup that finds nothing is answered with a marker. compose-go copies it into
	// the result for a plain ${VAR} (the blank it warns about) and for an unset
	// ${VAR:+alternative} (a blank on purpose); rerunning with that one lookup
	// answered "set" tells them apart: only ${VAR} then copies the value.
	seen := map[string]bool{}
	for i, name := range sub.unset {
		call := i + 1
		if seen[name] || !strings.Contains(masked, sub.marker(unsetMarker(call))) {
			continue
		}
		if probe, _ := sub.run(call); strings.Contains(probe, sub.marker(probeMarker)) {
			seen[name] = true
			missing = append(missing, name)
		}
	}
	if err != nil {
		return "", missing, sub.explain(err)
	}
	return sub.unmask(masked), missing, nil
}

// substitution runs compose-go's template on one string with every variable's value
// replaced by a marker, so that what compose-go hands back (a result, or an error
// that quotes a :? message) never holds a value until unmask puts them back.
// Markers keep what template decisions depend on: whether a variable is set, and
// whether its value is empty.
type substitution struct {
	s       string
	lookup  Lookup
	prefix  string            // starts every marker; s does not contain it
	answers map[string]answer // the first lookup of each name, reused by reruns
	unset   []string          // the name of each lookup that found nothing, in order
}

type answer struct {
	value string
	ok    bool
}

const probeMarker = "probe"

func unsetMarker(call int) string { return "unset" + strconv.Itoa(call) }

func newSubstitution(s string, lookup Lookup) *substitution {
	prefix := "\x00rasa-gitops:"
	for strings.Contains(s, prefix) {
		prefix += "~"
	}
	return &substitution{s: s, lookup: lookup, prefix: prefix, answers: map[string]answer{}}
}

// marker is the stand-in for a value; the trailing NUL keeps "unset1" from being
// read inside "unset12", variable names having no NUL.
func (sub *substitution) marker(id string) string { return sub.prefix + id + "\x00" }

// run substitutes sub.s. With probe 0 it records every lookup; with probe n it
// replays those answers, except that the n-th lookup that found nothing now
// finds the probe marker.
func (sub *substitution) run(probe int) (string, error) {
	if probe == 0 {
		sub.unset = sub.unset[:0]
	}
	misses := 0
	mapping := func(name string) (string, bool) {
		a, known := sub.answers[name]
		if !known && probe == 0 {
			a.value, a.ok = sub.lookup(name)
			sub.answers[name] = a
		}
		if a.ok {
			if a.value == "" {
				return "", true
			}
			return sub.marker("set:" + name), true
		}
		misses++
		if probe == 0 {
			sub.unset = append(sub.unset, name)
		}
		if misses == probe {
			return sub.marker(probeMarker), true
		}
		return sub.marker(unsetMarker(misses)), false
	}
	return template.SubstituteWithOptions(sub.s, mapping, template.WithoutLogging)
}

// unmask replaces each marker by the value it stands for ("" for an unset variable).
// withValues false replaces every marker by "", for text shown in a problem.
func (sub *substitution) unmaskWith(s string, withValues bool) string {
	if !strings.Contains(s, sub.prefix) {
		return s
	}
	var pairs []string
	for name, a := range sub.answers {
		if a.ok && a.value != "" {
			v := a.value
			if !withValues {
				v = ""
			}
			pairs = append(pairs, sub.marker("set:"+name), v)
		}
	}
	for call := range sub.unset {
		pairs = append(pairs, sub.marker(unsetMarker(call+1)), "")
	}
	return strings.NewReplacer(pairs...).Replace(s)
}

func (sub *substitution) unmask(s string) string { return sub.unmaskWith(s, true) }

// explain turns a compose-go template error into a problem that names variables but
// never shows a value.
func (sub *substitution) explain(err error) error {
	var required *template.MissingRequiredError
	if errors.As(err, &required) {
		msg := strings.TrimSpace(sub.unmaskWith(required.Reason, false))
		if msg == "" {
			msg = "is required"
		}
		return &interpolationError{fmt.Sprintf("variable %s is not set: %s; set it in the daemon's environment or --env-file", required.Variable, msg)}
	}
	var invalid *template.InvalidTemplateError
	if errors.As(err, &invalid) {
		return &interpolationError{invalidTemplateMessage(sub.unmaskWith(invalid.Template, false))}
	}
	return &interpolationError{"invalid interpolation: write $$ for a literal $"}
}

// invalidTemplateMessage explains an expression compose-go rejects. t is text of the
// repository (compose-go's InvalidTemplateError holds the string it was
// substituting), never a value. compose-go's own pattern finds the "${" that starts
// no valid expression: its "invalid" group matches there.
func invalidTemplateMessage(t string) string {
	group := template.DefaultPattern.SubexpIndex("invalid")
	for _, m := range template.DefaultPattern.FindAllStringSubmatchIndex(t, -1) {
		if group < 0 || m[2*group] < 0 {
			continue
		}
		rest := t[m[0]:] // "${..."
		end := strings.IndexByte(rest, '}')
		if end < 0 {
			return fmt.Sprintf("unterminated ${ in %q: add the closing }", clip(rest))
		}
		expr := rest[2:end]
		if expr == "" || !isNameStart(expr[0]) {
			return fmt.Sprintf("invalid variable name in ${%s}: names are letters, digits and _ and do not start with a digit", clip(expr))
		}
		name := expr
		if i := strings.IndexFunc(expr, func(r rune) bool { return r > 127 || !isNameChar(byte(r)) }); i >= 0 {
			name = expr[:i]
		}
		return fmt.Sprintf("invalid interpolation ${%s}: use ${%s}, ${%s:-default} or ${%s:?message}", clip(expr), name, name, name)
	}
	return fmt.Sprintf("invalid interpolation %q: write $$ for a literal $", clip(t))
}

func isNameStart(c byte) bool {
	return c == '_' || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')
}

func isNameChar(c byte) bool { return isNameStart(c) || (c >= '0' && c <= '9') }

// clip keeps error messages short for long scalars.
func clip(s string) string {
	if len(s) > 40 {
		return s[:40] + "…"
	}
	return s
}
