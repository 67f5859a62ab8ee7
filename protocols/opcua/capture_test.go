package opcua

import (
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"testing"
)

func TestReplayDump(t *testing.T) {
	if os.Getenv("OPCUA_DUMP") == "" {
		t.Skip("set OPCUA_DUMP=file to print events")
	}
	msgs, conns := replay(t, filepath.Join(pcapDir(t), os.Getenv("OPCUA_DUMP")), Config{})
	for _, m := range msgs {
		fmt.Println(string(m.AppendJSON(nil)))
	}
	for _, c := range conns {
		fmt.Printf("%+v\n", c.Stats())
	}
	_ = sort.Strings
}
