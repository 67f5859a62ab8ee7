// Command sluice is the one binary of Sluice: a passive monitor for Modbus/TCP
// and OPC UA, its baseline tools, reports and the PLC simulator.
//
// Each subcommand lives in its own file and registers itself in init, so
// adding one never touches this file.
package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"sort"
	"syscall"
)

// command is one subcommand: `sluice NAME args...`.
type command struct {
	name    string
	summary string
	// run gets the arguments after the subcommand name and returns the
	// process exit code. ctx is cancelled on SIGINT/SIGTERM.
	run func(ctx context.Context, args []string) int
}

var commands = map[string]command{}

func register(c command) { commands[c.name] = c }

func usage() {
	fmt.Fprintf(os.Stderr, "Sluice: a passive monitor for Modbus/TCP and OPC UA on industrial control networks.\n\n")
	fmt.Fprintf(os.Stderr, "Usage: sluice COMMAND [flags] [args]\n\nCommands:\n")
	names := make([]string, 0, len(commands))
	for n := range commands {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		fmt.Fprintf(os.Stderr, "  %-10s %s\n", n, commands[n].summary)
	}
	fmt.Fprintf(os.Stderr, "\nRun 'sluice COMMAND --help' for the flags of one command.\n")
}

func main() {
	if len(os.Args) < 2 {
		usage()
		os.Exit(2)
	}
	name := os.Args[1]
	switch name {
	case "-h", "--help", "help":
		usage()
		return
	}
	c, ok := commands[name]
	if !ok {
		fmt.Fprintf(os.Stderr, "sluice: unknown command %q\n\n", name)
		usage()
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := c.run(ctx, os.Args[2:])
	stop()
	os.Exit(code)
}
