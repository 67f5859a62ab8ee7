package main

import (
	"bufio"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
)

// The configuration file of `sluice monitor --config FILE` (deploy/sluice.conf,
// docs/deploy.md): one "name = value" per line, where name is a long flag
// of the command without its dashes ("iface", "db", "learn-for"); blank
// lines and lines starting with # are ignored; a value may be written in
// double quotes (Go syntax) to keep leading or trailing spaces. A flag given
// on the command line overrides the file, so a unit file can pin the config
// and an operator can still try one setting by hand.

// configFlag registers --config on fs.
func configFlag(fs *flag.FlagSet) *string {
	return fs.String("config", "", "read settings from `FILE` (\"name = value\" lines, names are these flags' names; flags given on the command line win)")
}

// errConfigFile is wrapped by every error of applyConfigFile.
var errConfigFile = errors.New("config file")

// applyConfigFile sets, from the file at path, every flag of fs that was
// not given on the command line. An empty path does nothing. Unknown names,
// repeated names (but for flags given several times, such as --syslog),
// "config" itself and bad values are errors naming the file and line: a
// typo in a monitor's configuration must not be silently ignored.
func applyConfigFile(fs *flag.FlagSet, path string) error {
	if path == "" {
		return nil
	}
	f, err := os.Open(path)
	if err != nil {
		return fmt.Errorf("%w: %w", errConfigFile, err)
	}
	defer f.Close()
	repeatable := func(name string) bool {
		fl := fs.Lookup(name)
		if fl == nil {
			return false
		}
		_, ok := fl.Value.(interface{ repeatable() })
		return ok
	}
	settings, err := parseConfig(f, path, repeatable)
	if err != nil {
		return err
	}
	explicit := map[string]bool{}
	fs.Visit(func(fl *flag.Flag) { explicit[fl.Name] = true })
	for _, s := range settings {
		if explicit[s.name] {
			continue
		}
		if err := fs.Set(s.name, s.value); err != nil {
			return fmt.Errorf("%w: %s:%d: %s: %w", errConfigFile, path, s.line, s.name, err)
		}
	}
	return nil
}

// setting is one "name = value" line.
type setting struct {
	name, value string
	line        int
}

// parseConfig reads the settings of a configuration file. It does not know
// the flags; applyConfigFile checks names against them through fs.Set,
// which fails for an unknown name. A name may come back on several lines
// only when repeatable says so (--syslog: one line per destination).
func parseConfig(r io.Reader, path string, repeatable func(name string) bool) ([]setting, error) {
	var out []setting
	seen := map[string]int{}
	sc := bufio.NewScanner(r)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		name, value, ok := strings.Cut(line, "=")
		if !ok {
			return nil, fmt.Errorf("%w: %s:%d: want name = value, got %q", errConfigFile, path, n, line)
		}
		name = strings.TrimSpace(strings.TrimLeft(strings.TrimSpace(name), "-"))
		value = strings.TrimSpace(value)
		if name == "" {
			return nil, fmt.Errorf("%w: %s:%d: empty name", errConfigFile, path, n)
		}
		if name == "config" {
			return nil, fmt.Errorf("%w: %s:%d: a config file cannot name another", errConfigFile, path, n)
		}
		if prev, dup := seen[name]; dup && !repeatable(name) {
			return nil, fmt.Errorf("%w: %s:%d: %s already set on line %d", errConfigFile, path, n, name, prev)
		}
		seen[name] = n
		if strings.HasPrefix(value, `"`) {
			uq, err := strconv.Unquote(value)
			if err != nil {
				return nil, fmt.Errorf("%w: %s:%d: %s: bad quoted value %s", errConfigFile, path, n, name, value)
			}
			value = uq
		}
		out = append(out, setting{name: name, value: value, line: n})
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("%w: %s: %w", errConfigFile, path, err)
	}
	return out, nil
}
