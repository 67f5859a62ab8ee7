// Command sluice is the one binary of Sluice: a passive monitor for the
// industrial protocols of agent's registry (Modbus/TCP, OPC UA, DNP3), its
// baseline tools, reports and the PLC simulator.
//
// Each subcommand lives in its own file and registers itself in init, so
// adding one never touches this file.
package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"sort"
	"strings"
	"syscall"

	"github.com/sluice-ics/sluice/agent"
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
	fmt.Fprintf(os.Stderr, "Sluice: a passive monitor for %s on industrial control networks.\n\n", protocolTitles())
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

// protocolTitles lists the decoded protocols for people, from the agent's
// registry, so that a new protocol shows up here without an edit:
// "Modbus/TCP, OPC UA and DNP3".
func protocolTitles() string {
	ps := agent.Protocols()
	var b strings.Builder
	for i, p := range ps {
		switch {
		case i == 0:
		case i == len(ps)-1:
			b.WriteString(" and ")
		default:
			b.WriteString(", ")
		}
		b.WriteString(p.Title)
	}
	return b.String()
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
	ctx, stop := signalContext()
	code := c.run(ctx, os.Args[2:])
	stop()
	os.Exit(code)
}

// signalContext returns a context cancelled on SIGINT or SIGTERM, whose
// cause (context.Cause) is an interrupted naming the signal, and the
// function that stops catching them (a second signal then has its default
// effect).
func signalContext() (context.Context, func()) {
	ctx, cancel := context.WithCancelCause(context.Background())
	ch := make(chan os.Signal, 1)
	signal.Notify(ch, os.Interrupt, syscall.SIGTERM)
	go func() {
		select {
		case s := <-ch:
			cancel(interrupted{s.(syscall.Signal)})
		case <-ctx.Done():
		}
	}()
	return ctx, func() {
		signal.Stop(ch)
		cancel(nil)
	}
}

// interrupted is the cause of a context cancelled by a signal.
type interrupted struct{ sig syscall.Signal }

func (i interrupted) Error() string { return i.sig.String() + " received" }

// Is makes an interruption a cancellation (errors.Is(err, context.Canceled)).
func (i interrupted) Is(target error) bool { return target == context.Canceled }

// interruptStatus is the exit status of a command that ctx's signal
// interrupted before it was done: 128 + the signal's number, as a shell
// reports a process the signal killed (130 for SIGINT, 143 for SIGTERM), or
// 1 when ctx was cancelled otherwise.
func interruptStatus(ctx context.Context) int {
	var i interrupted
	if errors.As(context.Cause(ctx), &i) {
		return 128 + int(i.sig)
	}
	return 1
}
