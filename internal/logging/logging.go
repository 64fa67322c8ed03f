// Package logging builds the zap logger of the long-running commands (serve, the
// daemon): one place decides the line format operators parse and alert on.
package logging

import (
	"errors"
	"fmt"
	"io"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
)

// ErrUnknownFormat is returned for a format other than "json" or "console", so that
// the caller can report it as a mistake in how it was called.
var ErrUnknownFormat = errors.New("unknown log format")

// New builds a logger writing to w at info level: "json" (the default of the
// commands, for log collectors) or "console" (coloured levels, for humans). Times are
// ISO 8601 under "time", readable in both formats.
func New(format string, w io.Writer) (*zap.Logger, error) {
	enc := zap.NewProductionEncoderConfig()
	enc.TimeKey = "time"
	enc.EncodeTime = zapcore.ISO8601TimeEncoder
	var encoder zapcore.Encoder
	switch format {
	case "json":
		encoder = zapcore.NewJSONEncoder(enc)
	case "console":
		enc.EncodeLevel = zapcore.CapitalColorLevelEncoder
		encoder = zapcore.NewConsoleEncoder(enc)
	default:
		return nil, fmt.Errorf("%w %q", ErrUnknownFormat, format)
	}
	// Lines come from several goroutines (runs, background model loads): one write at
	// a time, whatever w is.
	return zap.New(zapcore.NewCore(encoder, zapcore.Lock(zapcore.AddSync(w)), zapcore.InfoLevel)), nil
}
