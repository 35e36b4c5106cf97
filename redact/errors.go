package redact

import (
	"errors"
	"strconv"
)

// ErrInvalidJSON is returned (wrapped in a *SyntaxError) by
// [Redactor.JSON] for input that is not one valid JSON value.
var ErrInvalidJSON = errors.New("redact: invalid JSON")

// ErrInternal is returned by [Redactor.JSON] when walking the input failed
// in an unexpected way. Like any error from JSON it means that nothing was
// written and the value must be treated as unprocessable.
var ErrInternal = errors.New("redact: internal error")

// ErrTooLarge is returned by [Redactor.JSON] when the redacted value would
// be more than a quarter longer than the input, plus 2 MiB (see
// [MaxOutputBytes]): masks and hashes are longer than most of what they
// replace, and a value dense in short findings would otherwise grow
// without bound. Like any error from JSON, the value must be treated as
// unprocessable.
var ErrTooLarge = errors.New("redact: redacted value too large")

// SyntaxError says where input to [Redactor.JSON] stopped being valid JSON.
// It never quotes the input: the input is unredacted text.
type SyntaxError struct {
	Offset int    // byte offset in src where the problem was found
	Reason string // what was expected or found, without input bytes
}

func (e *SyntaxError) Error() string {
	return ErrInvalidJSON.Error() + " at offset " + strconv.Itoa(e.Offset) + ": " + e.Reason
}

// Unwrap makes errors.Is(err, ErrInvalidJSON) true.
func (e *SyntaxError) Unwrap() error { return ErrInvalidJSON }

// ConfigError names the Config item that [New] rejected, in the form
// "rules[1].pattern" or "packs[0]". It never carries key material.
type ConfigError struct {
	Item string
	Err  error
}

func (e *ConfigError) Error() string { return e.Item + ": " + e.Err.Error() }

// Unwrap returns the underlying problem.
func (e *ConfigError) Unwrap() error { return e.Err }
