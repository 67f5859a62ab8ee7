package main

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/sluice-ics/sluice/internal/fleet"
)

// forwarders starts what the forwarding row sends to: a private rsyslogd
// with a TCP input writing to a file, and a 3-node NATS JetStream cluster on
// loopback with the fleet stream replicated three times (issue #13: the
// added cost per packet when syslog and NATS are both on). It returns the
// replay flags that use them and a function that stops them, or a reason
// to skip the row when rsyslogd or nats-server is missing.
func forwarders(dir string) (flags []string, stop func(), skip string, err error) {
	rsyslogd, err := exec.LookPath("rsyslogd")
	if err != nil {
		rsyslogd = "/usr/sbin/rsyslogd"
	}
	if _, err := os.Stat(rsyslogd); err != nil {
		return nil, nil, "rsyslogd not installed (make tools installs it)", nil
	}
	natsServer := filepath.Join(".tools", "bin", "nats-server")
	if _, err := os.Stat(natsServer); err != nil {
		if natsServer, err = exec.LookPath("nats-server"); err != nil {
			return nil, nil, "nats-server not installed (make tools installs it into .tools/bin)", nil
		}
	}
	var procs []*exec.Cmd
	stop = func() {
		for _, p := range procs {
			p.Process.Kill()
			p.Wait()
		}
	}
	start := func(name string, args ...string) error {
		c := exec.Command(name, args...)
		if err := c.Start(); err != nil {
			return err
		}
		procs = append(procs, c)
		return nil
	}
	fail := func(err error) ([]string, func(), string, error) {
		stop()
		return nil, nil, "", err
	}
	ports, err := freePorts(7)
	if err != nil {
		return fail(err)
	}
	conf := filepath.Join(dir, "rsyslog.conf")
	err = os.WriteFile(conf, []byte(fmt.Sprintf(`global(workDirectory=%q)
module(load="imtcp")
ruleset(name="bench") { action(type="omfile" file=%q) }
input(type="imtcp" address="127.0.0.1" port="%d" ruleset="bench")
`, dir, filepath.Join(dir, "syslog.log"), ports[0])), 0o600)
	if err != nil {
		return fail(err)
	}
	if err := start(rsyslogd, "-n", "-f", conf, "-i", filepath.Join(dir, "rsyslogd.pid")); err != nil {
		return fail(err)
	}
	var routes, urls []string
	for i := range 3 {
		routes = append(routes, fmt.Sprintf("nats://127.0.0.1:%d", ports[4+i]))
		urls = append(urls, fmt.Sprintf("nats://127.0.0.1:%d", ports[1+i]))
	}
	for i := range 3 {
		err := start(natsServer, "-a", "127.0.0.1", "-p", fmt.Sprint(ports[1+i]), "-n", fmt.Sprintf("n%d", i+1),
			"-js", "-sd", filepath.Join(dir, fmt.Sprintf("js%d", i+1)), "--cluster_name", "bench",
			"--cluster", routes[i], "--routes", strings.Join(routes, ","))
		if err != nil {
			return fail(err)
		}
	}
	for _, p := range ports[:4] {
		if err := waitListen(p); err != nil {
			return fail(err)
		}
	}
	if err := waitStream(strings.Join(urls, ",")); err != nil {
		return fail(err)
	}
	flags = []string{"--sensor", "bench", "--syslog", fmt.Sprintf("tcp://127.0.0.1:%d", ports[0]),
		"--nats", strings.Join(urls, ","), "--nats-replicas", "3", "--nats-spool", filepath.Join(dir, "nats.spool")}
	return flags, stop, "", nil
}

func freePorts(n int) ([]int, error) {
	var out []int
	var ls []net.Listener
	defer func() {
		for _, l := range ls {
			l.Close()
		}
	}()
	for range n {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, err
		}
		ls = append(ls, l)
		out = append(out, l.Addr().(*net.TCPAddr).Port)
	}
	return out, nil
}

func waitListen(port int) error {
	deadline := time.Now().Add(10 * time.Second)
	for {
		c, err := net.DialTimeout("tcp", fmt.Sprintf("127.0.0.1:%d", port), 200*time.Millisecond)
		if err == nil {
			c.Close()
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("nothing listens on port %d: %w", port, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// waitStream waits for the cluster to elect its leaders and creates the
// fleet stream with three replicas.
func waitStream(urls string) error {
	nc, err := nats.Connect(urls)
	if err != nil {
		return err
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		return err
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		err := fleet.EnsureStream(ctx, js, fleet.DefaultStream, 3)
		cancel()
		if err == nil {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("the NATS cluster's stream: %w", err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}
