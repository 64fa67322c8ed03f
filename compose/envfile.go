package compose

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"strings"
)

// ReadEnvFile reads a daemon-side env file (KEY=VALUE lines, # comments, optional
// "export " prefix, optional single or double quotes around the value). Errors name the
// file and line but never a value, since values are secrets.
func ReadEnvFile(path string) (map[string]string, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read env file: %w", err)
	}
	return ParseEnvFile(path, data)
}

// ParseEnvFile parses env-file content; name is used in errors only.
func ParseEnvFile(name string, data []byte) (map[string]string, error) {
	out := map[string]string{}
	var problems Problems
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(make([]byte, 64*1024), 1<<20)
	line := 0
	for sc.Scan() {
		line++
		text := strings.TrimSpace(sc.Text())
		if text == "" || strings.HasPrefix(text, "#") {
			continue
		}
		text = strings.TrimPrefix(text, "export ")
		key, value, ok := strings.Cut(text, "=")
		key = strings.TrimSpace(key)
		if !ok || key == "" || !isNameStart(key[0]) || strings.IndexFunc(key, func(r rune) bool { return r > 127 || !isNameChar(byte(r)) }) >= 0 {
			problems = append(problems, Problem{File: name, Line: line, Col: 1, Message: "expected KEY=VALUE with KEY made of letters, digits and _"})
			continue
		}
		value = strings.TrimSpace(value)
		if len(value) >= 2 && (value[0] == '"' || value[0] == '\'') && value[len(value)-1] == value[0] {
			value = value[1 : len(value)-1]
		}
		out[key] = value
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("read env file %s: %w", name, err)
	}
	if len(problems) > 0 {
		return nil, problems
	}
	return out, nil
}
