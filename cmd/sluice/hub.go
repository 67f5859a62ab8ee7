package main

import (
	"context"
	"flag"
	"fmt"
	"os"

	"github.com/sluice-ics/sluice/internal/fleet"
)

func init() {
	register(command{
		name:    "hub",
		summary: "gather many sensors' alerts, inventories and baselines from NATS JetStream into a fleet database",
		run:     runHub,
	})
}

const hubHelp = `
Hub reads the fleet stream the sensors publish to (sluice monitor --nats)
through a durable JetStream consumer and keeps one fleet database: every
sensor of every site and when it was last heard from, each alert once, and
each site's inventory and baseline as its sensors' changes built them.
A hub that stops resumes where its durable consumer stopped: messages are
acknowledged once written, and one delivered again is recognised by its id.
Two hubs with the same --durable share the messages (each database gets a
part); a second full copy needs its own --durable.

Read the database with the other commands (stop the hub first, or copy the
file: bbolt lets one process at a time have it):
  sluice report --db fleet.db -o fleet.html          the fleet report
  sluice report --db fleet.db --site dam-1 -o s.html  one site's baseline report
  sluice baseline show --db fleet.db --site dam-1     one site's baseline

Examples:
  sluice hub --nats nats://cc-1:4222,nats://cc-2:4222,nats://cc-3:4222 --db /var/lib/sluice/fleet.db
  sluice hub --nats tls://cc-1:4222 --nats-ca ca.pem --nats-creds hub.creds --db fleet.db
`

func runHub(ctx context.Context, args []string) int {
	fs := flag.NewFlagSet("hub", flag.ContinueOnError)
	var cfg fleet.HubConfig
	var auth natsAuth
	fs.StringVar(&cfg.URL, "nats", "", "the NATS server `URL` (a cluster's servers comma-separated; required)")
	fs.StringVar(&cfg.DB, "db", "", "fleet database `FILE` (bbolt; created when missing; required)")
	fs.StringVar(&cfg.Stream, "nats-stream", fleet.DefaultStream, "the JetStream `STREAM` (created on subjects sluice.> when missing)")
	fs.IntVar(&cfg.Replicas, "nats-replicas", 1, "`N` replicas of the stream when the hub creates it (3 on a cluster)")
	fs.StringVar(&cfg.Durable, "durable", fleet.DefaultDurable, "the durable consumer's `NAME`: the hub resumes where it stopped")
	fs.IntVar(&cfg.Batch, "batch", fleet.DefaultBatch, "`MESSAGES` written per database transaction")
	auth.register(fs)
	fs.Usage = flagUsage(fs, "sluice hub --nats URL --db FILE [flags]", hubHelp)
	rest, err := parseInterspersed(fs, args)
	if err != nil {
		return exitCode(err)
	}
	if len(rest) > 0 {
		fmt.Fprintf(os.Stderr, "sluice hub: unexpected argument %q (sluice hub --help)\n", rest[0])
		return 2
	}
	if cfg.URL == "" || cfg.DB == "" {
		fmt.Fprintln(os.Stderr, "sluice hub: --nats and --db are required (sluice hub --help)")
		return 2
	}
	if cfg.Options, err = auth.options(); err != nil {
		fmt.Fprintf(os.Stderr, "sluice hub: %v\n", err)
		return 2
	}
	cfg.Log = os.Stderr
	st, err := fleet.RunHub(ctx, cfg)
	fmt.Fprintf(os.Stderr, "sluice hub: %d messages written (%d alerts, %d inventory and baseline changes), %d duplicates ignored, %d unreadable dropped\n",
		st.Messages, st.Alerts, st.Deltas, st.Duplicates, st.Rejected)
	if err != nil {
		fmt.Fprintf(os.Stderr, "sluice hub: %v\n", err)
		return 1
	}
	return 0
}
