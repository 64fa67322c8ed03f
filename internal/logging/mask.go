package logging

import (
	"encoding/json"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
)

// Masked returns log with every secret masked before a line is encoded: in the message
// and in every field, whatever its type. Masking the encoded line instead misses a
// secret the encoder escaped (a quote, a backslash, a newline in JSON). mask is called
// for every string; it may change its secrets over time (they are known only once a
// declaration is read).
func Masked(log *zap.Logger, mask func(string) string) *zap.Logger {
	return log.WithOptions(zap.WrapCore(func(c zapcore.Core) zapcore.Core { return &maskCore{Core: c, mask: mask} }))
}

// maskCore masks the message and the fields on their way to the wrapped core.
type maskCore struct {
	zapcore.Core
	mask func(string) string
}

func (c *maskCore) With(fields []zapcore.Field) zapcore.Core {
	return &maskCore{Core: c.Core.With(c.fields(fields)), mask: c.mask}
}

func (c *maskCore) Check(ent zapcore.Entry, ce *zapcore.CheckedEntry) *zapcore.CheckedEntry {
	if c.Enabled(ent.Level) {
		return ce.AddCore(ent, c)
	}
	return ce
}

func (c *maskCore) Write(ent zapcore.Entry, fields []zapcore.Field) error {
	ent.Message = c.mask(ent.Message)
	return c.Core.Write(ent, c.fields(fields))
}

// fields masks every field: strings directly, anything else through the value zap
// would encode (errors, stringers, arrays, objects, reflected values).
func (c *maskCore) fields(fields []zapcore.Field) []zapcore.Field {
	out := make([]zapcore.Field, len(fields))
	for i, f := range fields {
		switch f.Type {
		case zapcore.StringType:
			f.String = c.mask(f.String)
			out[i] = f
		case zapcore.BoolType, zapcore.DurationType, zapcore.Float64Type, zapcore.Float32Type,
			zapcore.Int64Type, zapcore.Int32Type, zapcore.Int16Type, zapcore.Int8Type,
			zapcore.Uint64Type, zapcore.Uint32Type, zapcore.Uint16Type, zapcore.Uint8Type,
			zapcore.TimeType, zapcore.TimeFullType, zapcore.SkipType:
			out[i] = f
		default:
			enc := zapcore.NewMapObjectEncoder()
			f.AddTo(enc)
			masked := make([]zapcore.Field, 0, len(enc.Fields))
			for k, v := range enc.Fields {
				masked = append(masked, zap.Any(k, c.value(v)))
			}
			if len(masked) == 1 {
				out[i] = masked[0]
			} else {
				out[i] = zap.Skip()
				out = append(out, masked...)
			}
		}
	}
	return out
}

// value masks the strings inside what a MapObjectEncoder produced.
func (c *maskCore) value(v any) any {
	switch x := v.(type) {
	case string:
		return c.mask(x)
	case []any:
		for i := range x {
			x[i] = c.value(x[i])
		}
		return x
	case map[string]any:
		for k := range x {
			x[k] = c.value(x[k])
		}
		return x
	case nil, bool, int, int8, int16, int32, int64, uint, uint8, uint16, uint32, uint64, float32, float64:
		return v
	default:
		// A reflected value (zap.Any of a map or struct): its JSON, masked.
		data, err := json.Marshal(x)
		var decoded any
		if err != nil || json.Unmarshal(data, &decoded) != nil {
			return "(a value that could not be checked for secrets)"
		}
		return c.value(decoded)
	}
}
