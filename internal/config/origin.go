package config

import "fmt"

// sourceKind is where a value can come from, lowest precedence first.
type sourceKind int

const (
	fromDefault sourceKind = iota
	fromFile
	fromEnv
	fromSet
	fromFlag
)

// origin records where one value came from, for error messages and for the
// comments in the resolved YAML.
type origin struct {
	kind   sourceKind
	detail string // file:line, variable name, the --set argument or the flag name
}

var defaultOrigin = origin{kind: fromDefault}

func (o origin) String() string {
	switch o.kind {
	case fromFile:
		return o.detail
	case fromEnv:
		return "environment variable " + o.detail
	case fromSet:
		return fmt.Sprintf("--set %s", o.detail)
	case fromFlag:
		return o.detail
	}
	return "built-in default"
}

// KeyError reports a bad value for one configuration key: its name, where
// the value came from, the value itself and what is wrong with it.
type KeyError struct {
	Key     string // dotted key, e.g. "train.batch_size"
	Origin  string // e.g. "run.yaml:12", "environment variable SIMCLR_TRAIN_EPOCHS", "--set ...", "--epochs"
	Value   string // the offending value as written
	Problem string // e.g. "must be >= 2" or "expected an integer"
}

func (e *KeyError) Error() string {
	return fmt.Sprintf("%s = %s (from %s): %s", e.Key, e.Value, e.Origin, e.Problem)
}

// UnknownKeyError reports a key that does not exist, where it was written
// and the closest valid key.
type UnknownKeyError struct {
	Key        string // as written; for environment variables, the variable name
	Origin     string // where it was written
	Suggestion string // closest valid key (or variable), "" when nothing is close
	Hint       string // optional extra advice
}

func (e *UnknownKeyError) Error() string {
	msg := fmt.Sprintf("unknown key %q in %s", e.Key, e.Origin)
	if e.Suggestion != "" {
		msg += fmt.Sprintf("; did you mean %s?", e.Suggestion)
	} else {
		msg += "; run `simclr config` or see docs/config.md for the valid keys"
	}
	if e.Hint != "" {
		msg += " (" + e.Hint + ")"
	}
	return msg
}
