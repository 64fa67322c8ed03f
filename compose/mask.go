package compose

import (
	"regexp"
	"strings"
)

// MinFragment is the shortest piece of a secret value that MaskFragments hides: an
// error message may quote a value cut at a colon or a quote, not only whole.
const MinFragment = 6

// MaskFragments replaces, in s, every run of at least MinFragment characters that
// also occurs in a secret value, and every whole secret value of at least 4
// characters, with Mask. It is for error messages, where a parser may quote part of
// a malformed value ("address supersecret:80:: too many colons"); rendered files are
// masked by whole values only (MaskValues).
func MaskFragments(s string, secrets []string) string {
	s = MaskValues(s, secrets)
	var long [][]rune
	for _, v := range secrets {
		if r := []rune(v); len(r) >= MinFragment {
			long = append(long, r)
		}
	}
	if len(long) == 0 {
		return s
	}
	msg := []rune(s)
	var b strings.Builder
	for i := 0; i < len(msg); {
		if n := variableRefLen(msg[i:]); n > 0 { // "${NAME}" stands in for a value
			b.WriteString(string(msg[i : i+n]))
			i += n
			continue
		}
		if n := longestShared(msg[i:], long); n >= MinFragment {
			b.WriteString(Mask)
			i += n
			continue
		}
		b.WriteRune(msg[i])
		i++
	}
	return b.String()
}

// variableRefLen is the length of the "${...}" that msg starts with, or 0.
func variableRefLen(msg []rune) int {
	if len(msg) < 3 || msg[0] != '$' || msg[1] != '{' {
		return 0
	}
	for i := 2; i < len(msg); i++ {
		if msg[i] == '}' {
			return i + 1
		}
	}
	return 0
}

// longestShared is the length of the longest prefix of msg that occurs somewhere in
// one of the secrets.
func longestShared(msg []rune, secrets [][]rune) int {
	best := 0
	for _, sec := range secrets {
		for j := range sec {
			n := 0
			for n < len(msg) && j+n < len(sec) && msg[n] == sec[j+n] {
				n++
			}
			best = max(best, n)
		}
	}
	return best
}

// variableRef finds the names a file interpolates: $NAME and ${NAME...}.
var variableRef = regexp.MustCompile(`\$\{?([A-Za-z_][A-Za-z0-9_]*)`)

// noteReferences remembers every variable name data mentions, so that a problem
// quoting part of its value can be masked even when compose-go, not the loader,
// interpolated it.
func (l *repoLoader) noteReferences(data []byte) {
	for _, m := range variableRef.FindAllSubmatch(data, -1) {
		if l.referenced == nil {
			l.referenced = map[string]bool{}
		}
		l.referenced[string(m[1])] = true
	}
}

// keepReferences counts every set variable a file mentions as interpolated, so its
// value is masked like those the loader looked up itself (compose-go interpolates
// the Compose files with the same environment).
func (l *repoLoader) keepReferences() {
	for name := range l.referenced {
		if _, ok := l.opts.Env[name]; ok {
			if l.decl.variables == nil {
				l.decl.variables = map[string]bool{}
			}
			l.decl.variables[name] = true
		}
	}
}
