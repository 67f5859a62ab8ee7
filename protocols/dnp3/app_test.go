package dnp3

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"
)

// objectsJSON decodes a fragment and renders its objects as an event
// writes them, with the fragment's error if any.
func objectsJSON(t *testing.T, frag []byte) (string, error) {
	t.Helper()
	var m Message
	err := m.Parse(frag)
	budget := MaxPoints
	var b []byte
	for i := range m.Objects {
		if i > 0 {
			b = append(b, ',')
		}
		b = appendObject(b, &m.Objects[i], &budget)
	}
	if !json.Valid(append(append([]byte{'['}, b...), ']')) {
		t.Fatalf("invalid JSON: %s", b)
	}
	return string(b), err
}

// pointVectors are fragments (hex, fields apart) and the objects an event
// writes for them: one vector per qualifier and per group whose values are
// decoded. Each comment reads the octets.
var pointVectors = []struct {
	name, frag, want string
}{
	{"read of classes 1, 2, 3, 0 (qualifier 0x06, iti_read_and_response frame 4)",
		"c0 01 | 3c 02 06 | 3c 03 06 | 3c 04 06 | 3c 01 06",
		`{"group":60,"variation":2,"name":"class_1_data","qualifier":6,"prefix_code":0,"range_code":6,"count":0},` +
			`{"group":60,"variation":3,"name":"class_2_data","qualifier":6,"prefix_code":0,"range_code":6,"count":0},` +
			`{"group":60,"variation":4,"name":"class_3_data","qualifier":6,"prefix_code":0,"range_code":6,"count":0},` +
			`{"group":60,"variation":1,"name":"class_0_data","qualifier":6,"prefix_code":0,"range_code":6,"count":0}`},
	{"read of analog inputs 3-4 (qualifier 0x00, header only)",
		"c1 01 | 1e 01 00 03 04",
		`{"group":30,"variation":1,"name":"analog_input_32_bit_with_flag","qualifier":0,"prefix_code":0,"range_code":0,"start":3,"stop":4,"count":2}`},
	{"binary inputs with flags 0-2: online; online and on; restart",
		"c0 81 00 00 | 01 02 00 00 02 | 01 81 02",
		`{"group":1,"variation":2,"name":"binary_input_with_flags","qualifier":0,"prefix_code":0,"range_code":0,"start":0,"stop":2,"count":3,"points":[` +
			`{"index":0,"value":0,"online":1,"restart":0,"comm_lost":0,"remote_forced":0,"local_forced":0,"chatter_filter":0},` +
			`{"index":1,"value":1,"online":1,"restart":0,"comm_lost":0,"remote_forced":0,"local_forced":0,"chatter_filter":0},` +
			`{"index":2,"value":0,"online":0,"restart":1,"comm_lost":0,"remote_forced":0,"local_forced":0,"chatter_filter":0}]}`},
	{"packed binary inputs 8-17: a5 02 = 1,0,1,0,0,1,0,1 then 0,1",
		"c0 81 00 00 | 01 01 00 08 11 | a5 02",
		`{"group":1,"variation":1,"name":"binary_input_packed","qualifier":0,"prefix_code":0,"range_code":0,"start":8,"stop":17,"count":10,"points":[` +
			`{"index":8,"value":1},{"index":9,"value":0},{"index":10,"value":1},{"index":11,"value":0},{"index":12,"value":0},` +
			`{"index":13,"value":1},{"index":14,"value":0},{"index":15,"value":1},{"index":16,"value":0},{"index":17,"value":1}]}`},
	{"packed double-bit inputs 0-3: e4 = 0,1,2,3",
		"c0 81 00 00 | 03 01 00 00 03 | e4",
		`{"group":3,"variation":1,"name":"double_bit_binary_input_packed","qualifier":0,"prefix_code":0,"range_code":0,"start":0,"stop":3,"count":4,"points":[` +
			`{"index":0,"value":0},{"index":1,"value":1},{"index":2,"value":2},{"index":3,"value":3}]}`},
	{"binary input event with time, 1-octet index prefix (qualifier 0x17): index 5 on at 2015-03-27T07:45:49Z",
		"c0 82 00 00 | 02 02 17 01 | 05 81 c8 b3 31 5a 4c 01",
		`{"group":2,"variation":2,"name":"binary_input_event_with_time","qualifier":23,"prefix_code":1,"range_code":7,"count":1,"points":[` +
			`{"index":5,"value":1,"online":1,"restart":0,"comm_lost":0,"remote_forced":0,"local_forced":0,"chatter_filter":0,"timestamp":1427442349000}]}`},
	{"two CROBs in one direct operate (qualifier 0x28): close/pulse on index 3, trip/pulse on index 7",
		"c3 05 | 0c 01 28 02 00 | 03 00 41 01 64 00 00 00 00 00 00 00 00 | 07 00 81 02 e8 03 00 00 e8 03 00 00 00",
		`{"group":12,"variation":1,"name":"crob","qualifier":40,"prefix_code":2,"range_code":8,"count":2,"points":[` +
			`{"index":3,"op_type":1,"operation":"pulse_on","tcc":1,"trip_close":"close","cr":0,"qu":0,"count":1,"ontime":100,"offtime":0,"status_code":0,"status":"success"},` +
			`{"index":7,"op_type":1,"operation":"pulse_on","tcc":2,"trip_close":"trip","cr":0,"qu":0,"count":2,"ontime":1000,"offtime":1000,"status_code":0,"status":"success"}]}`},
	{"32-bit counter with flag, 16-bit range 300-300 (qualifier 0x01)",
		"c0 81 00 00 | 14 01 01 2c 01 2c 01 | 01 78 56 34 12",
		`{"group":20,"variation":1,"name":"counter_32_bit_with_flag","qualifier":1,"prefix_code":0,"range_code":1,"start":300,"stop":300,"count":1,"points":[` +
			`{"index":300,"value":305419896,"online":1,"restart":0,"comm_lost":0,"remote_forced":0,"local_forced":0,"rollover":0,"discontinuity":0}]}`},
	{"frozen counter with time, 32-bit range 70000-70000 (qualifier 0x02)",
		"c0 81 00 00 | 15 05 02 70 11 01 00 70 11 01 00 | 21 07 00 00 00 c8 b3 31 5a 4c 01",
		`{"group":21,"variation":5,"name":"frozen_counter_32_bit_with_flag_and_time","qualifier":2,"prefix_code":0,"range_code":2,"start":70000,"stop":70000,"count":1,"points":[` +
			`{"index":70000,"value":7,"online":1,"restart":0,"comm_lost":0,"remote_forced":0,"local_forced":0,"rollover":1,"discontinuity":0,"timestamp":1427442349000}]}`},
	{"analog inputs: 16-bit -2, float 1.5, double 0.1, 32-bit without flag",
		"c0 81 00 00 | 1e 02 00 00 00 | 01 fe ff | 1e 05 00 01 01 | 21 00 00 c0 3f | 1e 06 00 02 02 | 01 9a 99 99 99 99 99 b9 3f | 1e 03 00 03 03 | 39 30 00 00",
		`{"group":30,"variation":2,"name":"analog_input_16_bit_with_flag","qualifier":0,"prefix_code":0,"range_code":0,"start":0,"stop":0,"count":1,"points":[` +
			`{"index":0,"value":-2,"online":1,"restart":0,"comm_lost":0,"remote_forced":0,"local_forced":0,"over_range":0,"reference_err":0}]},` +
			`{"group":30,"variation":5,"name":"analog_input_float_with_flag","qualifier":0,"prefix_code":0,"range_code":0,"start":1,"stop":1,"count":1,"points":[` +
			`{"index":1,"value":1.5,"online":1,"restart":0,"comm_lost":0,"remote_forced":0,"local_forced":0,"over_range":1,"reference_err":0}]},` +
			`{"group":30,"variation":6,"name":"analog_input_double_with_flag","qualifier":0,"prefix_code":0,"range_code":0,"start":2,"stop":2,"count":1,"points":[` +
			`{"index":2,"value":0.1,"online":1,"restart":0,"comm_lost":0,"remote_forced":0,"local_forced":0,"over_range":0,"reference_err":0}]},` +
			`{"group":30,"variation":3,"name":"analog_input_32_bit","qualifier":0,"prefix_code":0,"range_code":0,"start":3,"stop":3,"count":1,"points":[{"index":3,"value":12345}]}`},
	{"analog input event with time, 2-octet index prefix and count (qualifier 0x28)",
		"c0 82 00 00 | 20 03 28 01 00 | 05 00 01 ff ff ff ff c8 b3 31 5a 4c 01",
		`{"group":32,"variation":3,"name":"analog_input_event_32_bit_with_time","qualifier":40,"prefix_code":2,"range_code":8,"count":1,"points":[` +
			`{"index":5,"value":-1,"online":1,"restart":0,"comm_lost":0,"remote_forced":0,"local_forced":0,"over_range":0,"reference_err":0,"timestamp":1427442349000}]}`},
	{"analog output status, analog output block (float), command event",
		"c0 81 00 00 | 28 01 00 00 00 | 01 10 27 00 00 | 29 03 28 01 00 | 01 00 00 00 80 3f 00 | 2b 01 28 01 00 | 02 00 04 64 00 00 00",
		`{"group":40,"variation":1,"name":"analog_output_status_32_bit","qualifier":0,"prefix_code":0,"range_code":0,"start":0,"stop":0,"count":1,"points":[` +
			`{"index":0,"value":10000,"online":1,"restart":0,"comm_lost":0,"remote_forced":0,"local_forced":0,"over_range":0,"reference_err":0}]},` +
			`{"group":41,"variation":3,"name":"analog_output_float","qualifier":40,"prefix_code":2,"range_code":8,"count":1,"points":[` +
			`{"index":1,"value":1,"status_code":0,"status":"success"}]},` +
			`{"group":43,"variation":1,"name":"analog_output_command_event_32_bit","qualifier":40,"prefix_code":2,"range_code":8,"count":1,"points":[` +
			`{"index":2,"value":100,"status_code":4,"status":"not_supported"}]}`},
	{"time and date (count, qualifier 0x07), CTO and a relative-time event, fine delay",
		"c0 81 00 00 | 32 01 07 01 c8 b3 31 5a 4c 01 | 33 01 07 01 c8 b3 31 5a 4c 01 | 02 03 17 01 04 01 0a 00 | 34 02 07 01 88 13",
		`{"group":50,"variation":1,"name":"time_and_date","qualifier":7,"prefix_code":0,"range_code":7,"count":1,"points":[{"index":0,"timestamp":1427442349000}]},` +
			`{"group":51,"variation":1,"name":"time_and_date_cto","qualifier":7,"prefix_code":0,"range_code":7,"count":1,"points":[{"index":0,"timestamp":1427442349000}]},` +
			`{"group":2,"variation":3,"name":"binary_input_event_with_relative_time","qualifier":23,"prefix_code":1,"range_code":7,"count":1,"points":[` +
			`{"index":4,"value":0,"online":1,"restart":0,"comm_lost":0,"remote_forced":0,"local_forced":0,"chatter_filter":0,"relative_time_ms":10}]},` +
			`{"group":52,"variation":2,"name":"time_delay_fine","qualifier":7,"prefix_code":0,"range_code":7,"count":1,"points":[{"index":0,"delay_ms":5000}]}`},
	{"a 2-octet count (qualifier 0x08), a 4-octet index prefix and count (0x39), 1-octet virtual addresses (0x03)",
		"c0 81 00 00 | 34 01 08 01 00 | 3c 00 | 1e 01 39 01 00 00 00 | a0 86 01 00 01 0a 00 00 00 | 0a 02 03 04 04 | 81",
		`{"group":52,"variation":1,"name":"time_delay_coarse","qualifier":8,"prefix_code":0,"range_code":8,"count":1,"points":[{"index":0,"delay_secs":60}]},` +
			`{"group":30,"variation":1,"name":"analog_input_32_bit_with_flag","qualifier":57,"prefix_code":3,"range_code":9,"count":1,"points":[` +
			`{"index":100000,"value":10,"online":1,"restart":0,"comm_lost":0,"remote_forced":0,"local_forced":0,"over_range":0,"reference_err":0}]},` +
			`{"group":10,"variation":2,"name":"binary_output_status_with_flags","qualifier":3,"prefix_code":0,"range_code":3,"start":4,"stop":4,"count":1,"points":[` +
			`{"index":4,"value":1,"online":1,"restart":0,"comm_lost":0,"remote_forced":0,"local_forced":0}]}`},
	{"write of IIN1.7 device restart (qualifier 0x00, 7-7)",
		"c0 02 | 50 01 00 07 07 00",
		`{"group":80,"variation":1,"name":"internal_indications","qualifier":0,"prefix_code":0,"range_code":0,"start":7,"stop":7,"count":1,"points":[{"index":7,"value":0,"name":"device_restart"}]}`},
	{"device attributes: manufacturer's name (a string to escape), number of data sets",
		"c0 81 00 00 | 00 fc 00 00 00 | 01 06 41 3c 62 3e 22 ff | 00 d7 00 00 00 | 02 04 03 00 00 00",
		`{"group":0,"variation":252,"name":"device_manufacturer_name","qualifier":0,"prefix_code":0,"range_code":0,"start":0,"stop":0,"count":1,"points":[` +
			`{"index":0,"type":1,"type_name":"vstr","text":"A\u003cb\u003e\"\ufffd"}]},` +
			`{"group":0,"variation":215,"name":"number_of_outstation_defined_data_sets","qualifier":0,"prefix_code":0,"range_code":0,"start":0,"stop":0,"count":1,"points":[` +
			`{"index":0,"type":2,"type_name":"uint","value":3}]}`},
	{"a device attribute with a size prefix: user-assigned location",
		"c0 81 00 00 | 00 f5 5b 01 | 06 00 | 01 04 64 61 6d 31",
		`{"group":0,"variation":245,"name":"user_assigned_location","qualifier":91,"prefix_code":5,"range_code":11,"count":1,"points":[` +
			`{"index":0,"size":6,"type":1,"type_name":"vstr","text":"dam1"}]}`},
	{"file command to open ./helloworld.txt for writing (size prefix, qualifier 0x5b; iti_file_write frame 1)",
		"c9 19 | 46 03 5b 01 | 2a 00 | 1a 00 10 00 c8 b3 31 5a 4c 01 ff 01 00 00 00 00 09 00 00 00 02 00 00 04 06 00 | 2e 2f 68 65 6c 6c 6f 77 6f 72 6c 64 2e 74 78 74",
		`{"group":70,"variation":3,"name":"file_command","qualifier":91,"prefix_code":5,"range_code":11,"count":1,"points":[` +
			`{"index":0,"size":42,"file_name":"./helloworld.txt","created":1427442349000,"permissions":511,"authentication_key":0,"file_size":9,` +
			`"operational_mode":2,"mode":"write","max_block_size":1024,"request_id":6}]}`},
	{"octet string of 4 (g110 v4), authentication session key status request (g120 v4), an unknown object with a size prefix",
		"c0 02 | 6e 04 00 00 00 | 74 65 73 74 | 78 04 07 01 01 00 | fe 01 5b 01 03 00 aa bb cc",
		`{"group":110,"variation":4,"name":"octet_string","qualifier":0,"prefix_code":0,"range_code":0,"start":0,"stop":0,"count":1,"points":[{"index":0,"data":"74657374"}]},` +
			`{"group":120,"variation":4,"name":"authentication_session_key_status_request","qualifier":7,"prefix_code":0,"range_code":7,"count":1,"points":[{"index":0,"user":1}]},` +
			`{"group":254,"variation":1,"qualifier":91,"prefix_code":5,"range_code":11,"count":1,"points":[{"index":0,"size":3,"data":"aabbcc"}]}`},
}

func TestPointVectors(t *testing.T) {
	for _, v := range pointVectors {
		got, err := objectsJSON(t, mustHex(v.frag))
		if err != nil {
			t.Errorf("%s: %v", v.name, err)
		}
		if got != v.want {
			t.Errorf("%s:\n got  %s\n want %s", v.name, got, v.want)
		}
	}
}

// TestParseErrors: a fault stops the walk; the objects before it, and the
// one at fault when its header was read, are kept.
func TestParseErrors(t *testing.T) {
	for _, tc := range []struct {
		name, frag string
		objects    int
		reason     string
	}{
		{"empty", "", 0, "shorter than its header"},
		{"response without IIN", "c0 81 00", 0, "shorter than its header"},
		{"header cut", "c0 01 3c 02", 0, "object header truncated"},
		{"reserved qualifier (iti_dnp3_test_data_part1 frame 154)", "c1 15 3c 02 06 3c 03 06 3c 04 ed", 3, "reserved qualifier"},
		{"reserved range code", "c0 01 01 02 0a", 1, "reserved range code"},
		{"range cut", "c0 01 01 02 01 00", 1, "range field truncated"},
		{"stop before start", "c0 01 01 02 00 05 04", 1, "stop index below start index"},
		{"unknown object with data", "c0 02 fe 01 00 00 00 01", 1, "unknown object"},
		{"free format without size", "c0 02 46 03 17 01 00", 1, "free-format object without a size prefix"},
		{"0x0b range without size prefix", "c0 02 46 03 0b 01", 1, "without a size prefix"},
		{"packed with index prefix", "c0 81 00 00 01 01 17 01 00 01", 1, "packed variation with an index prefix"},
		{"CROB cut (iti_direct_operate_crob_malform_but_good_crc)", "ca 05 0c 01 28 02 00 01 00 02 01 64 00 00 00 64 00 00 00 00 02 00", 1, errTruncated},
	} {
		var m Message
		err := m.Parse(mustHex(tc.frag))
		if !errors.Is(err, ErrMalformed) || !strings.Contains(err.Error(), tc.reason) || len(m.Objects) != tc.objects {
			t.Errorf("%s: %v, %d objects; want %q, %d objects", tc.name, err, len(m.Objects), tc.reason, tc.objects)
		}
	}
	// The truncated CROB lists the first of its two points.
	var m Message
	m.Parse(mustHex("ca 05 0c 01 28 02 00 01 00 02 01 64 00 00 00 64 00 00 00 00 02 00"))
	it := m.Objects[0].Points()
	var p Point
	n := 0
	for it.Next(&p) {
		n++
	}
	if n != 1 {
		t.Errorf("truncated CROB: %d points, want 1", n)
	}
}

func TestMaxObjects(t *testing.T) {
	frag := []byte{0xc0, 0x01}
	for range MaxObjects + 3 {
		frag = append(frag, 0x3c, 0x01, 0x06)
	}
	var m Message
	if err := m.Parse(frag); err != nil || len(m.Objects) != MaxObjects || m.Omitted != 3 {
		t.Errorf("%v, %d objects, %d omitted", err, len(m.Objects), m.Omitted)
	}
}

func TestNames(t *testing.T) {
	for _, tc := range []struct{ got, want string }{
		{FuncImmediateFreeze.String(), "immediate_freeze"},
		{FuncAuthenticationResponse.String(), "authentication_response"},
		{FunctionCode(0x22).String(), "unknown_34"},
		{ObjectName(12, 1), "crob"},
		{ObjectName(20, 0), "counter"},
		{ObjectName(22, 5), "counter_event_32_bit_with_time"},
		{ObjectName(23, 4), "frozen_counter_event_16_bit_delta"},
		{ObjectName(20, 5), "counter_32_bit"},
		{ObjectName(21, 12), "frozen_counter_16_bit_delta"},
		{ObjectName(0, 250), "device_manufacturer_product_name_and_model"},
		{ObjectName(113, 9), "virtual_terminal_event_data"},
		{ObjectName(200, 1), ""},
		{CommandStatusName(4), "not_supported"},
		{CommandStatusName(99), "unknown"},
	} {
		if tc.got != tc.want {
			t.Errorf("got %q, want %q", tc.got, tc.want)
		}
	}
	var names []string
	for n := range (IINDeviceRestart | IINNeedTime | IINObjectUnknown | IINReserved1).Names {
		names = append(names, n)
	}
	if got := strings.Join(names, ","); got != "need_time,device_restart,object_unknown,reserved_1" {
		t.Errorf("IIN names %s", got)
	}
	for _, f := range []FunctionCode{FuncConfirm, FuncDirectOperateNR, FuncImmediateFreezeNR, FuncFreezeClearNR, FuncFreezeAtTimeNR, FuncAuthenticationRequestNoAck, 0x22, FuncResponse} {
		if f.ExpectsResponse() {
			t.Errorf("%s expects a response", f)
		}
	}
	for f := FuncRead; f <= FuncAuthenticationRequest; f++ {
		if !f.ExpectsResponse() && f != FuncDirectOperateNR && f != FuncImmediateFreezeNR && f != FuncFreezeClearNR && f != FuncFreezeAtTimeNR {
			t.Errorf("%s expects no response", f)
		}
	}
}
