// Package simulator is a small hydro dam behind a Modbus/TCP PLC and an OPC
// UA server, the people and machines that talk to it, scripted attacks, and a
// generator of deterministic, labelled captures of the same traffic.
//
// The pieces, by file:
//
//   - tags.go: the one tag table (Tags): name, unit, Modbus unit, table,
//     address and scaling, OPC UA node id, writability, valid and normal
//     ranges. docs/simulator.md shows it (TestDocsInSync).
//   - process.go: the dam (Process), advanced in one-second steps of
//     simulated time, deterministic for a seed; it never reads the clock.
//   - mbhandler.go, mbfront.go: the PLC's Modbus/TCP side. A front end of
//     ours frames requests, answers FC 8, 17, 23 and 43/14 itself and hands
//     FC 1-6, 15 and 16 unchanged to github.com/simonvetter/modbus's server
//     (which answers anything else with exception 01).
//   - uaserver.go: the OPC UA server, github.com/gopcua/opcua/server with a
//     Write handler of ours (the stock one crashes on a missing namespace).
//   - session.go, uaclient.go, historian.go: the clients. The HMI and the
//     engineering workstation use simonvetter/modbus; attacks send raw ADUs;
//     OPC UA actors use a lock-step client on gopcua's codec, and live the
//     historian uses gopcua's own client with a subscription.
//   - scenario.go: normal operation and the attacks as one timeline of
//     events; Scenarios lists them.
//   - run.go, serve.go: the same timeline runs live (Serve, Play: real
//     sockets, real time) or into a capture (Capture, WriteCapture).
//   - recorder.go, wire.go: in a capture, every client waits for its answer
//     and the scheduler runs one event at a time, so what the real servers
//     and clients exchange over loopback arrives in a fixed order; the
//     recorder places it at simulated times on synthesized Ethernet/IPv4/TCP
//     connections between the plant's hosts, and wire writes the pcap.
//   - itside.go, itproto.go, it_scenarios.go: the IT side of the plant
//     network (DNS, NTP, HTTPS, RDP, SMB backup; lateral movement, a
//     command-and-control beacon, a port scan, a Telnet shell on the PLC).
//     No server stands behind it: in a capture the conversations are
//     written straight onto the wire (TCP and UDP), byte for byte as real
//     clients and servers send them; live it is absent.
//
// Nothing in a capture depends on the clock or on goroutine scheduling: the
// same CaptureConfig gives the same bytes (TestCaptureDeterministic).
package simulator
