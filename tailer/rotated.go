package tailer

import (
	"fmt"
	"regexp"
	"slices"
	"strings"
)

// RotatedStyles are the rotation naming schemes Config.Rotated may name,
// each a pattern of the suffix that follows the log's base name. Only a
// name made of the base name and such a suffix is a rotated generation:
// anything else beside the log ("agent.log.pii", ".lock", ".bak", ".tmp",
// ".swp", compressed generations) is not read.
var RotatedStyles = map[string]string{
	// logrotate's default, Docker's json-file driver and Python's
	// RotatingFileHandler: agent.log.1, agent.log.2, ...
	"numbered": `\.[0-9]+`,
	// logrotate's dateext: agent.log-20261126, with %H (and %M%S) added by
	// dateformat, "-%s" appended when a day has several rotations, or
	// dateformat -%Y-%m-%d.
	"dateext": `-[0-9]{8}([0-9]{2}){0,3}(-[0-9]+)?|-[0-9]{4}-[0-9]{2}-[0-9]{2}`,
	// The kubelet's rotation of CRI container logs: 0.log.20261126-101500.
	"kubelet": `\.[0-9]{8}-[0-9]{6}`,
	// Python's TimedRotatingFileHandler: agent.log.2026-11-26, with
	// _%H, _%H-%M or _%H-%M-%S for the shorter intervals.
	"timed": `\.[0-9]{4}-[0-9]{2}-[0-9]{2}(_[0-9]{2}(-[0-9]{2}){0,2})?`,
}

// DefaultRotated is the value of an empty Config.Rotated: every style.
var DefaultRotated = []string{"numbered", "dateext", "kubelet", "timed"}

// rotatedNames tells rotated generations from other files beside a log.
type rotatedNames struct{ suffix *regexp.Regexp }

// compileRotated builds the matcher of Config.Rotated: each entry is a
// style of RotatedStyles or a regular expression between slashes
// ("/\.old[0-9]+/") that must match the whole suffix after the base name.
func compileRotated(entries []string) (rotatedNames, error) {
	if len(entries) == 0 {
		entries = DefaultRotated
	}
	alts := make([]string, 0, len(entries))
	for i, e := range entries {
		if p, ok := RotatedStyles[e]; ok {
			alts = append(alts, p)
			continue
		}
		if len(e) < 3 || e[0] != '/' || e[len(e)-1] != '/' {
			return rotatedNames{}, fmt.Errorf("rotated[%d]: %q is neither a style (%s) nor a /regular expression/", i, e, styleNames())
		}
		p := e[1 : len(e)-1]
		if _, err := regexp.Compile(p); err != nil {
			return rotatedNames{}, fmt.Errorf("rotated[%d]: %w", i, err)
		}
		alts = append(alts, p)
	}
	re, err := regexp.Compile(`^(?:(?:` + strings.Join(alts, `)|(?:`) + `))$`)
	if err != nil {
		return rotatedNames{}, fmt.Errorf("rotated: %w", err)
	}
	return rotatedNames{suffix: re}, nil
}

// ValidateRotated checks a Config.Rotated value; the error names the
// entry ("rotated[1]: ...").
func ValidateRotated(entries []string) error {
	_, err := compileRotated(entries)
	return err
}

func styleNames() string {
	names := make([]string, 0, len(RotatedStyles))
	for n := range RotatedStyles {
		names = append(names, n)
	}
	slices.Sort(names)
	return strings.Join(names, ", ")
}

// is reports whether name is a rotated generation of base.
func (rn rotatedNames) is(base, name string) bool {
	return len(name) > len(base) && strings.HasPrefix(name, base) &&
		rn.suffix.MatchString(name[len(base):]) && !isCompressed(name)
}
