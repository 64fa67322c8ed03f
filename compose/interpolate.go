package compose

import (
	"fmt"
	"strings"
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

// interpolate expands $VAR, ${VAR}, ${VAR:-default}, ${VAR-default}, ${VAR:?message},
// ${VAR?message}, ${VAR:+alternative} and ${VAR+alternative} as Docker Compose does,
// with $$ standing for a literal $. Defaults may nest further expressions.
// Every variable that is unset and has no default is reported in missing.
func interpolate(s string, lookup Lookup) (out string, missing []string, err error) {
	if !strings.Contains(s, "$") {
		return s, nil, nil
	}
	var b strings.Builder
	for i := 0; i < len(s); {
		c := s[i]
		if c != '$' {
			b.WriteByte(c)
			i++
			continue
		}
		if i+1 >= len(s) {
			b.WriteByte('$')
			i++
			continue
		}
		next := s[i+1]
		switch {
		case next == '$':
			b.WriteByte('$')
			i += 2
		case next == '{':
			end := matchBrace(s, i+1)
			if end < 0 {
				return "", missing, &interpolationError{fmt.Sprintf("unterminated ${ in %q: add the closing }", clip(s[i:]))}
			}
			val, miss, err := expandBraced(s[i+2:end], lookup)
			missing = append(missing, miss...)
			if err != nil {
				return "", missing, err
			}
			b.WriteString(val)
			i = end + 1
		case isNameStart(next):
			j := i + 1
			for j < len(s) && isNameChar(s[j]) {
				j++
			}
			name := s[i+1 : j]
			if v, ok := lookup(name); ok {
				b.WriteString(v)
			} else {
				missing = append(missing, name)
			}
			i = j
		default:
			return "", missing, &interpolationError{fmt.Sprintf("invalid interpolation %q: write $$ for a literal $", clip(s[i:]))}
		}
	}
	return b.String(), missing, nil
}

// matchBrace returns the index of the } closing the { at open, honouring nesting.
func matchBrace(s string, open int) int {
	depth := 0
	for i := open; i < len(s); i++ {
		switch s[i] {
		case '{':
			depth++
		case '}':
			depth--
			if depth == 0 {
				return i
			}
		}
	}
	return -1
}

func expandBraced(expr string, lookup Lookup) (string, []string, error) {
	j := 0
	for j < len(expr) && isNameChar(expr[j]) {
		j++
	}
	name, rest := expr[:j], expr[j:]
	if name == "" || !isNameStart(name[0]) {
		return "", nil, &interpolationError{fmt.Sprintf("invalid variable name in ${%s}: names are letters, digits and _ and do not start with a digit", clip(expr))}
	}
	value, set := lookup(name)
	if rest == "" {
		if !set {
			return "", []string{name}, nil
		}
		return value, nil, nil
	}
	var op string
	for _, candidate := range []string{":-", ":?", ":+", "-", "?", "+"} {
		if strings.HasPrefix(rest, candidate) {
			op = candidate
			break
		}
	}
	if op == "" {
		return "", nil, &interpolationError{fmt.Sprintf("invalid interpolation ${%s}: use ${%s}, ${%s:-default} or ${%s:?message}", clip(expr), name, name, name)}
	}
	arg := rest[len(op):]
	emptyCounts := strings.HasPrefix(op, ":") // the colon forms treat "" like unset
	present := set && !(emptyCounts && value == "")
	switch op[len(op)-1] {
	case '-':
		if present {
			return value, nil, nil
		}
		return interpolate(arg, lookup)
	case '+':
		if present {
			return interpolate(arg, lookup)
		}
		return "", nil, nil
	default: // '?'
		if present {
			return value, nil, nil
		}
		msg, _, _ := interpolate(arg, func(string) (string, bool) { return "", true })
		if msg == "" {
			msg = "is required"
		}
		return "", nil, &interpolationError{fmt.Sprintf("variable %s is not set: %s; set it in the daemon's environment or --env-file", name, msg)}
	}
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
