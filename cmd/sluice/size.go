package main

import (
	"fmt"
	"strconv"
	"strings"
)

// byteSize is a flag value for a size in bytes written for people:
// "384MiB", "1GiB", "512M", "65536" (K, M, G and their KiB, MiB, GiB
// forms are all powers of 1024, as in systemd's MemoryMax=).
type byteSize int64

func (s *byteSize) String() string {
	n := int64(*s)
	for _, u := range []struct {
		suffix string
		shift  uint
	}{{"GiB", 30}, {"MiB", 20}, {"KiB", 10}} {
		if n != 0 && n%(1<<u.shift) == 0 {
			return strconv.FormatInt(n>>u.shift, 10) + u.suffix
		}
	}
	return strconv.FormatInt(n, 10)
}

func (s *byteSize) Set(v string) error {
	t := strings.TrimSpace(v)
	shift := uint(0)
	for _, u := range []struct {
		suffixes []string
		shift    uint
	}{{[]string{"GiB", "G"}, 30}, {[]string{"MiB", "M"}, 20}, {[]string{"KiB", "K"}, 10}} {
		for _, suf := range u.suffixes {
			if strings.HasSuffix(t, suf) {
				t, shift = strings.TrimSuffix(t, suf), u.shift
				break
			}
		}
		if shift != 0 {
			break
		}
	}
	n, err := strconv.ParseInt(strings.TrimSpace(t), 10, 64)
	if err != nil || n < 0 || n > (1<<62)>>shift {
		return fmt.Errorf("bad size %q: want a number of bytes with an optional K, M or G (KiB, MiB, GiB)", v)
	}
	*s = byteSize(n << shift)
	return nil
}
