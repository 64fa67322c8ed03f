package compose

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"sort"

	"github.com/compose-spec/compose-go/v2/dotenv"
	"github.com/compose-spec/compose-go/v2/template"
)

// The problems an env file can have. None quotes the file's text: values are secrets.
const (
	envKeyProblem      = "expected KEY=VALUE with KEY made of letters, digits and _"
	envQuoteProblem    = "the quoted value that starts here is never closed: end it with the quote it starts with"
	envTemplateProblem = "the value has an invalid ${...}: write ${VAR} or ${VAR:-default}, and $$ for a literal $"
	envRequiredProblem = "variable %s is required by ${%s:?...} but no line above sets it"
)

// ReadEnvFile reads a daemon-side env file as docker compose --env-file does, with
// compose-go's dotenv parser: KEY=VALUE lines, # comments (also after an unquoted
// value, following a space), an optional "export " prefix, single quotes (literal)
// and double quotes (with \n and other escapes), and ${VAR} expanded from the
// lines above. Errors name the file and line but never a value, since values are
// secrets.
func ReadEnvFile(path string) (map[string]string, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read env file: %w", err)
	}
	return ParseEnvFile(path, data)
}

// ParseEnvFile parses env-file content; name is used in errors only. The result is
// exactly compose-go dotenv's; an error is a Problems holding the first problem.
func ParseEnvFile(name string, data []byte) (map[string]string, error) {
	out, err := parseDotenv(data)
	if err == nil {
		return out, nil
	}
	line, msg := envProblem(data, err)
	return nil, Problems{{File: name, Line: line, Col: 1, Message: msg}}
}

func parseDotenv(data []byte) (map[string]string, error) {
	return dotenv.ParseWithLookup(bytes.NewReader(data), nil)
}

// envProblem places and explains the error dotenv returned for data. dotenv's errors
// quote the line (a secret) and do not always say which it is, so neither is read
// from the error: the line is found by parsing prefixes of the file, and the kind
// of problem from the error's type and from whether closing a quote at the end of
// the file would cure it.
func envProblem(data []byte, err error) (line int, msg string) {
	ends := lineEnds(data)
	var required *template.MissingRequiredError
	var invalid *template.InvalidTemplateError
	unclosed := byte(0)
	switch {
	case errors.As(err, &required):
		msg = fmt.Sprintf(envRequiredProblem, required.Variable, required.Variable)
	case errors.As(err, &invalid):
		msg = envTemplateProblem
	default:
		if unclosed = closingQuote(data); unclosed != 0 {
			msg = envQuoteProblem
		} else {
			msg = envKeyProblem
		}
	}
	// end is the first line at which the prefix of the file stops being the start of
	// a good file: it holds the whole failing entry. (A prefix that only cuts a
	// quoted value short is still such a start.) An unclosed quote runs to the end.
	end := len(ends)
	if unclosed == 0 {
		end = sort.Search(len(ends), func(i int) bool { return !viablePrefix(data[:ends[i]]) }) + 1
		if end > len(ends) {
			end = len(ends)
		}
	}
	// The entry starts after the last prefix that parses whole. Above end, only a
	// line with a quote can start an entry that spans lines.
	for start := end - 1; start >= 0; start-- {
		if start < end-1 && unclosed == 0 && !bytes.ContainsAny(line0(data, ends, start), `"'`) {
			continue
		}
		if unclosed != 0 && !bytes.ContainsRune(line0(data, ends, start), rune(unclosed)) {
			continue
		}
		if _, err := parseDotenv(data[:lineStart(ends, start)]); err == nil {
			return start + 1, msg
		}
	}
	return 1, msg
}

// lineEnds lists the offset just past each line of data (its newline included).
func lineEnds(data []byte) []int {
	var ends []int
	for i, c := range data {
		if c == '\n' {
			ends = append(ends, i+1)
		}
	}
	if len(data) > 0 && data[len(data)-1] != '\n' {
		ends = append(ends, len(data))
	}
	return ends
}

func lineStart(ends []int, i int) int {
	if i == 0 {
		return 0
	}
	return ends[i-1]
}

// line0 is the text of the 0-based line i.
func line0(data []byte, ends []int, i int) []byte { return data[lineStart(ends, i):ends[i]] }

// viablePrefix reports whether p parses, or fails only because a quoted value is
// still open at its end.
func viablePrefix(p []byte) bool {
	_, err := parseDotenv(p)
	return err == nil || (!isTemplateError(err) && closingQuote(p) != 0)
}

// isTemplateError reports whether dotenv failed on a ${...} expression of a value.
func isTemplateError(err error) bool {
	var required *template.MissingRequiredError
	var invalid *template.InvalidTemplateError
	return errors.As(err, &required) || errors.As(err, &invalid)
}

// closingQuote returns the quote that, put on a new line after p, makes dotenv
// accept p (but for ${...} in the value it closes), or 0 when none does.
func closingQuote(p []byte) byte {
	for _, q := range []byte{'"', '\''} {
		if _, err := parseDotenv(append(append(bytes.Clone(p), '\n'), q)); err == nil || isTemplateError(err) {
			return q
		}
	}
	return 0
}
