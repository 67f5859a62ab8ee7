//go:build ignore

// gen.go writes manuf.tsv, the OUI table embedded in package oui,
// from Wireshark's manuf file (Debian package libwireshark-data, itself
// generated from the IEEE MA-L, MA-M, MA-S and IAB registries):
//
//	go run gen.go [-in /usr/share/wireshark/manuf]
//
// Each output line is "PREFIX/BITS<TAB>vendor", PREFIX the 12 hex digits of
// the masked address, sorted, so the table diffs well between updates.
package main

import (
	"bufio"
	"flag"
	"fmt"
	"log"
	"os"
	"sort"
	"strconv"
	"strings"
)

func main() {
	in := flag.String("in", "/usr/share/wireshark/manuf", "Wireshark manuf file")
	out := flag.String("out", "manuf.tsv", "output")
	flag.Parse()
	f, err := os.Open(*in)
	if err != nil {
		log.Fatal(err)
	}
	defer f.Close()
	var lines []string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		l := sc.Text()
		if i := strings.Index(l, "#"); i >= 0 {
			l = l[:i]
		}
		fields := strings.Split(strings.TrimSpace(l), "\t")
		if len(fields) < 2 {
			continue
		}
		prefix, bits := fields[0], 24
		if p, b, ok := strings.Cut(prefix, "/"); ok {
			n, err := strconv.Atoi(b)
			if err != nil {
				log.Fatalf("bad prefix %q", fields[0])
			}
			prefix, bits = p, n
		}
		hex := strings.ReplaceAll(strings.ReplaceAll(prefix, ":", ""), "-", "")
		if len(hex) > 12 || bits%4 != 0 || bits > 48 {
			continue
		}
		hex = (hex + "000000000000")[:12]
		// manuf cuts long names at a comma ("Siemens AG,"): drop the dangling comma.
		name := strings.TrimRight(strings.TrimSpace(fields[len(fields)-1]), ", ")
		if name == "" {
			continue
		}
		lines = append(lines, fmt.Sprintf("%s/%d\t%s", strings.ToLower(hex), bits, name))
	}
	if err := sc.Err(); err != nil {
		log.Fatal(err)
	}
	sort.Strings(lines)
	o, err := os.Create(*out)
	if err != nil {
		log.Fatal(err)
	}
	w := bufio.NewWriter(o)
	for _, l := range lines {
		fmt.Fprintln(w, l)
	}
	if err := w.Flush(); err != nil {
		log.Fatal(err)
	}
	if err := o.Close(); err != nil {
		log.Fatal(err)
	}
	log.Printf("%d prefixes", len(lines))
}
