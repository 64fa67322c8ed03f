package compose

import (
	"bytes"
	"errors"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/compose-spec/compose-go/v2/dotenv"
)

// envFileCases are env files read as compose-go's dotenv reads them (the oracle), with
// the line and message of the problem when dotenv refuses the file.
var envFileCases = []struct {
	name, in string
	line     int    // of the problem; 0 when the file is good
	msg      string // of the problem
}{
	{name: "empty", in: ""},
	{name: "comments", in: "# comment\n  # indented comment\n\nA=1\n"},
	{name: "inline comment", in: "A=1 # the port\nB=x#not-a-comment\n"},
	{name: "comment inside quotes", in: "A=\"quoted # kept\"\nB='single # kept'\n"},
	{name: "double-quote escapes", in: `A="line\nbreak\ttab \"q\" \\ \$HOME"` + "\n"},
	{name: "single quotes are literal", in: `A='no\nescape ${B} $$'` + "\n"},
	{name: "export", in: "export B = two \nexport\tC=3\n"},
	{name: "expansion from lines above", in: "A=1\nB=${A}2\nC=\"${A:-x}-$A\"\nD='${A}'\nE=${UNSET:-dflt}\nF=$${A}\n"},
	{name: "expansion of a later line", in: "B=${A}\nA=1\n"},
	{name: "empty values", in: "E=\nF=\"\"\nG=''\nH= \n"},
	{name: "multi-line quoted value", in: "A=\"multi\nline\"\nB=2\n"},
	{name: "yaml style", in: "KEY: yaml style\n"},
	{name: "name alone", in: "INHERITED\nA=1\n"},
	{name: "dots dashes brackets", in: "A.B-C[0]=x\n"},
	{name: "leading digit", in: "9BAD=x\n"},
	{name: "byte order mark", in: "\ufeffBOM=1\n"},
	{name: "crlf", in: "A=1\r\nB=\"two\"\r\n"},
	{name: "two entries on a line", in: "A=\"a\" B=b\n"},
	{name: "no final newline", in: "A=1\nB=2"},
	{name: "repeated key", in: "A=1\nA=2\n"},

	{name: "not a pair", in: "GOOD=1\nnot a pair s3cr3t\n9BAD=x\n", line: 2, msg: envKeyProblem},
	{name: "bad character in key", in: "A=1\n\nB!=s3cr3t-value\n", line: 3, msg: envKeyProblem},
	{name: "quoted key", in: "\"A\"=s3cr3t-value\n", line: 1, msg: envKeyProblem},
	{name: "export alone at the end", in: "A=1\nexport ", line: 2, msg: envKeyProblem},
	{name: "unclosed double quote", in: "A=1\nB=\"s3cr3t-value\nC=3\nD=4\n", line: 2, msg: envQuoteProblem},
	{name: "unclosed single quote after a multi-line value", in: "A=\"x\ny\"\nB='s3cr3t-value\n\"z\"\n", line: 3, msg: envQuoteProblem},
	{name: "unclosed quote with escaped quotes below", in: "A=\"s3cr3t-value\nx\\\"y\n", line: 1, msg: envQuoteProblem},
	{name: "invalid expansion", in: "A=1\nB=s3cr3t-${\n", line: 2, msg: envTemplateProblem},
	{name: "invalid expansion in quotes", in: "A=\"x\ny\"\nB=\"${1bad} s3cr3t-value\"\n", line: 3, msg: envTemplateProblem},
	{name: "invalid expansion in a multi-line value", in: "A=1\nB=\"s3cr3t-value\n${bad\nend\"\nC=2\n", line: 2, msg: envTemplateProblem},
	{name: "required variable", in: "A=${MISSING:?s3cr3t-reason}\n", line: 1, msg: fmt.Sprintf(envRequiredProblem, "MISSING", "MISSING")},
	{name: "required variable set later", in: "# x\nB=\"${A?}\"\nA=1\n", line: 2, msg: fmt.Sprintf(envRequiredProblem, "A", "A")},
}

// TestParseEnvFileMatchesDotenv checks ParseEnvFile against compose-go's dotenv
// itself: the same variables for a good file, an error for a bad one, placed at the
// line of the failing entry and quoting none of the file.
func TestParseEnvFileMatchesDotenv(t *testing.T) {
	for _, tt := range envFileCases {
		t.Run(tt.name, func(t *testing.T) {
			want, wantErr := dotenv.ParseWithLookup(bytes.NewReader([]byte(tt.in)), nil)
			got, err := ParseEnvFile("daemon.env", []byte(tt.in))
			if tt.line == 0 {
				if wantErr != nil {
					t.Fatalf("bad case: dotenv refuses it: %v", wantErr)
				}
				if err != nil {
					t.Fatalf("err = %v, want none", err)
				}
				if !maps.Equal(got, want) {
					t.Fatalf("got %q, dotenv reads %q", got, want)
				}
				return
			}
			if wantErr == nil {
				t.Fatalf("bad case: dotenv accepts it: %q", want)
			}
			var problems Problems
			if !errors.As(err, &problems) || len(problems) != 1 {
				t.Fatalf("err = %v, want one Problem", err)
			}
			if want := (Problem{File: "daemon.env", Line: tt.line, Col: 1, Message: tt.msg}); problems[0] != want {
				t.Errorf("problem = %q\n     want %q", problems[0], want)
			}
			if strings.Contains(err.Error(), "s3cr3t") {
				t.Errorf("the problem quotes the file: %v", err)
			}
		})
	}
}

func TestReadEnvFileNamesTheFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "daemon.env")
	if err := os.WriteFile(path, []byte("A=1\nB=\"open s3cr3t\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	_, err := ReadEnvFile(path)
	if err == nil || err.Error() != path+":2:1: "+envQuoteProblem {
		t.Errorf("err = %v", err)
	}
}

// envValue is the text after the first = of each line.
var envValue = regexp.MustCompile(`(?m)=(.*)$`)

// envReference is a ${NAME or $NAME in a file: a name an error may show.
var envReference = regexp.MustCompile(`\$\{?([A-Za-z_][A-Za-z0-9_]*)`)

// FuzzParseEnvFile: ParseEnvFile never panics, reads what dotenv reads, and its errors
// never quote a value (other than a name the file uses in ${NAME}, or a value that
// happens to be part of the messages' own words).
func FuzzParseEnvFile(f *testing.F) {
	for _, tt := range envFileCases {
		f.Add([]byte(tt.in))
	}
	f.Add([]byte("A=\"${B:-${C:?reason}}\"\nexport D='x'\n"))
	words := strings.Join([]string{envKeyProblem, envQuoteProblem, envTemplateProblem, envRequiredProblem}, "\n")
	f.Fuzz(func(t *testing.T, data []byte) {
		got, err := ParseEnvFile("fuzz.env", data)
		want, wantErr := dotenv.ParseWithLookup(bytes.NewReader(data), nil)
		if (err == nil) != (wantErr == nil) {
			t.Fatalf("err = %v, dotenv's = %v", err, wantErr)
		}
		if err == nil {
			if !maps.Equal(got, want) {
				t.Fatalf("got %q, dotenv reads %q", got, want)
			}
			return
		}
		var problems Problems
		if !errors.As(err, &problems) || len(problems) != 1 || problems[0].Line < 1 || problems[0].Line > bytes.Count(data, []byte("\n"))+1 {
			t.Fatalf("want one problem on a line of the file: %v", err)
		}
		names := map[string]bool{}
		for _, m := range envReference.FindAllStringSubmatch(string(data), -1) {
			names[m[1]] = true
		}
		for _, m := range envValue.FindAllStringSubmatch(string(data), -1) {
			v := strings.TrimSpace(m[1])
			if len(v) > 5 && strings.Contains(err.Error(), v) && !names[v] && !strings.Contains(words, v) {
				t.Fatalf("the error quotes the value %q: %v", v, err)
			}
		}
	})
}
