package dnp3

// Object groups and variations (IEEE 1815-2012, clause 11 and Annex A):
// what each variation is called, how many octets one of its objects takes
// and how its fields are laid out. The table drives both the walk over a
// fragment's objects (an object's size is needed to find the next header)
// and the decoding of point values.

// flagSet says what the bits of a flag octet mean (11.9.3 and the group
// definitions); each set is written with the names Suricata's EVE log uses.
type flagSet uint8

const (
	flagsNone    flagSet = iota
	flagsBinary          // binary inputs (g1, g2): chatter filter at bit 5, the state at bit 7
	flagsDouble          // double-bit inputs (g3, g4): chatter filter, the state at bits 6-7
	flagsOutput          // binary outputs (g10, g11): the state at bit 7
	flagsCounter         // counters (g20-g23): rollover at bit 5, discontinuity at bit 6
	flagsAnalog          // analogs (g30-g34, g40, g42): over range at bit 5, reference error at bit 6
	flagsCommand         // command events (g13, g43): a status code in bits 0-6; g13's commanded state at bit 7
)

// valueKind is the type of a point's value.
type valueKind uint8

const (
	valNone   valueKind = iota
	valState            // one bit: the flag octet's bit 7, or a packed bit
	valDouble           // two bits: bits 6-7 of the flag octet, or a packed pair
	valU16
	valU32
	valI16
	valI32
	valF32
	valF64
	valTime   // 48-bit milliseconds since 1970-01-01 UTC (11.3.7)
	valU8     // g102
	valBCD16  // g101: binary-coded decimal, 2, 4 or 8 octets
	valBCD32  //
	valBCD64  //
	valOctets // g110-g113: the variation is the length
)

// layout names the variations decoded field by field outside the common
// pattern (flags, value, time).
type layout uint8

const (
	layoutPlain        layout = iota // [flags] [value] [time]
	layoutCROB                       // g12 v1/v2: control code, count, on time, off time, status
	layoutOutputBlock                // g41: value, then a control status octet
	layoutTimeInterval               // g50 v2: time, 32-bit interval in ms
	layoutIndexedTime                // g50 v4: time, 32-bit interval, interval units
	layoutDelay                      // g52: 16-bit delay (v1 seconds, v2 milliseconds)
	layoutAttribute                  // g0: data type, length, value
	layoutFile                       // g70: free-format file transfer objects
	layoutAuth                       // g120: secure authentication objects
	layoutStatistic                  // g121, g122: association, flags, 32-bit count [time]
	layoutRaw                        // decoded as octets only (free format, data sets, BCD pattern)
)

// timeKind is the time that follows a point's value.
type timeKind uint8

const (
	timeNone timeKind = iota
	timeAbs           // 48-bit absolute time (ms since the epoch)
	timeRel           // 16-bit time relative to the preceding CTO (g51), ms
)

// varInfo describes one group/variation.
type varInfo struct {
	name   string
	size   uint8 // octets per object; 0 with bits > 0 for packed, 0 otherwise for variable sizes
	bits   uint8 // packed objects: bits per object (1 or 2)
	flags  flagSet
	value  valueKind
	time   timeKind
	layout layout
	// free marks variations whose objects only travel with a size prefix
	// (qualifier 0x5B) or whose size is their own (g0 attributes): the
	// walk reads each object's length instead of multiplying.
	free bool
}

func (v *varInfo) known() bool { return v.name != "" }

// groupNames name every group of IEEE 1815-2012 Annex A, for objects whose
// variation is not in varTable (variation 0, "any", in reads; reserved or
// obsolete variations).
var groupNames = [256]string{
	0: "device_attributes", 1: "binary_input", 2: "binary_input_event", 3: "double_bit_binary_input",
	4: "double_bit_binary_input_event", 10: "binary_output", 11: "binary_output_event", 12: "binary_command",
	13: "binary_output_command_event", 20: "counter", 21: "frozen_counter", 22: "counter_event",
	23: "frozen_counter_event", 30: "analog_input", 31: "frozen_analog_input", 32: "analog_input_event",
	33: "frozen_analog_input_event", 34: "analog_input_deadband", 40: "analog_output_status",
	41: "analog_output", 42: "analog_output_event", 43: "analog_output_command_event", 50: "time_and_date",
	51: "time_and_date_cto", 52: "time_delay", 60: "class_objects", 70: "file_control",
	80: "internal_indications", 81: "device_storage", 82: "device_profile", 83: "data_set_registration",
	85: "data_set_prototype", 86: "data_set_descriptor", 87: "data_set", 88: "data_set_event",
	90: "application_identifier", 91: "activate_configuration_status", 100: "floating_point",
	101: "bcd_integer", 102: "unsigned_integer", 110: "octet_string", 111: "octet_string_event",
	112: "virtual_terminal_output_block", 113: "virtual_terminal_event_data", 120: "authentication",
	121: "security_statistic", 122: "security_statistic_event",
}

// varTable is indexed by group, then variation.
var varTable = buildVarTable()

func buildVarTable() (t [256][]varInfo) {
	put := func(g, v uint8, info varInfo) {
		for len(t[g]) <= int(v) {
			t[g] = append(t[g], varInfo{})
		}
		t[g][v] = info
	}
	flagged := func(name string, size uint8, fl flagSet, val valueKind, tk timeKind) varInfo {
		return varInfo{name: name, size: size, flags: fl, value: val, time: tk}
	}
	plain := func(name string, size uint8, val valueKind, tk timeKind) varInfo {
		return varInfo{name: name, size: size, value: val, time: tk}
	}

	// Binary inputs and their events (11.9.1-11.9.4).
	put(1, 1, varInfo{name: "binary_input_packed", bits: 1, value: valState})
	put(1, 2, flagged("binary_input_with_flags", 1, flagsBinary, valState, timeNone))
	put(2, 1, flagged("binary_input_event", 1, flagsBinary, valState, timeNone))
	put(2, 2, flagged("binary_input_event_with_time", 7, flagsBinary, valState, timeAbs))
	put(2, 3, flagged("binary_input_event_with_relative_time", 3, flagsBinary, valState, timeRel))
	put(3, 1, varInfo{name: "double_bit_binary_input_packed", bits: 2, value: valDouble})
	put(3, 2, flagged("double_bit_binary_input_with_flags", 1, flagsDouble, valDouble, timeNone))
	put(4, 1, flagged("double_bit_binary_input_event", 1, flagsDouble, valDouble, timeNone))
	put(4, 2, flagged("double_bit_binary_input_event_with_time", 7, flagsDouble, valDouble, timeAbs))
	put(4, 3, flagged("double_bit_binary_input_event_with_relative_time", 3, flagsDouble, valDouble, timeRel))

	// Binary outputs, commands and command events (11.9.5-11.9.9).
	put(10, 1, varInfo{name: "binary_output_packed", bits: 1, value: valState})
	put(10, 2, flagged("binary_output_status_with_flags", 1, flagsOutput, valState, timeNone))
	put(11, 1, flagged("binary_output_event", 1, flagsOutput, valState, timeNone))
	put(11, 2, flagged("binary_output_event_with_time", 7, flagsOutput, valState, timeAbs))
	put(12, 1, varInfo{name: "crob", size: 11, layout: layoutCROB})
	put(12, 2, varInfo{name: "pattern_control_block", size: 11, layout: layoutCROB})
	put(12, 3, varInfo{name: "pattern_mask", bits: 1, value: valState})
	put(13, 1, flagged("binary_output_command_event", 1, flagsCommand, valState, timeNone))
	put(13, 2, flagged("binary_output_command_event_with_time", 7, flagsCommand, valState, timeAbs))

	// Counters (11.9.10-11.9.13): unsigned. The frozen counter's twelve
	// variations hold the counter's eight (v1-4 and v9-12 as v1-8) and,
	// with "with_flag" taken out of their names, the events' eight (v1-8).
	frozen := []struct {
		v    uint8
		name string
		size uint8
		fl   flagSet
		val  valueKind
		tk   timeKind
	}{
		{1, "32_bit_with_flag", 5, flagsCounter, valU32, timeNone},
		{2, "16_bit_with_flag", 3, flagsCounter, valU16, timeNone},
		{3, "32_bit_delta_with_flag", 5, flagsCounter, valU32, timeNone},
		{4, "16_bit_delta_with_flag", 3, flagsCounter, valU16, timeNone},
		{5, "32_bit_with_flag_and_time", 11, flagsCounter, valU32, timeAbs},
		{6, "16_bit_with_flag_and_time", 9, flagsCounter, valU16, timeAbs},
		{7, "32_bit_delta_with_flag_and_time", 11, flagsCounter, valU32, timeAbs},
		{8, "16_bit_delta_with_flag_and_time", 9, flagsCounter, valU16, timeAbs},
		{9, "32_bit", 4, flagsNone, valU32, timeNone},
		{10, "16_bit", 2, flagsNone, valU16, timeNone},
		{11, "32_bit_delta", 4, flagsNone, valU32, timeNone},
		{12, "16_bit_delta", 2, flagsNone, valU16, timeNone},
	}
	for _, c := range frozen {
		put(21, c.v, flagged("frozen_counter_"+c.name, c.size, c.fl, c.val, c.tk))
		switch {
		case c.v >= 9:
			put(20, c.v-4, flagged("counter_"+c.name, c.size, c.fl, c.val, c.tk))
		case c.v <= 4:
			put(20, c.v, flagged("counter_"+c.name, c.size, c.fl, c.val, c.tk))
			name := c.name[:len(c.name)-len("_with_flag")]
			put(22, c.v, flagged("counter_event_"+name, c.size, c.fl, c.val, c.tk))
			put(23, c.v, flagged("frozen_counter_event_"+name, c.size, c.fl, c.val, c.tk))
		default:
			name := c.name[:len(c.name)-len("_with_flag_and_time")] + "_with_time"
			put(22, c.v, flagged("counter_event_"+name, c.size, c.fl, c.val, c.tk))
			put(23, c.v, flagged("frozen_counter_event_"+name, c.size, c.fl, c.val, c.tk))
		}
	}

	// Analog inputs (11.9.14-11.9.18): signed integers and floats.
	put(30, 1, flagged("analog_input_32_bit_with_flag", 5, flagsAnalog, valI32, timeNone))
	put(30, 2, flagged("analog_input_16_bit_with_flag", 3, flagsAnalog, valI16, timeNone))
	put(30, 3, plain("analog_input_32_bit", 4, valI32, timeNone))
	put(30, 4, plain("analog_input_16_bit", 2, valI16, timeNone))
	put(30, 5, flagged("analog_input_float_with_flag", 5, flagsAnalog, valF32, timeNone))
	put(30, 6, flagged("analog_input_double_with_flag", 9, flagsAnalog, valF64, timeNone))
	put(31, 1, flagged("frozen_analog_input_32_bit_with_flag", 5, flagsAnalog, valI32, timeNone))
	put(31, 2, flagged("frozen_analog_input_16_bit_with_flag", 3, flagsAnalog, valI16, timeNone))
	put(31, 3, flagged("frozen_analog_input_32_bit_with_time_of_freeze", 11, flagsAnalog, valI32, timeAbs))
	put(31, 4, flagged("frozen_analog_input_16_bit_with_time_of_freeze", 9, flagsAnalog, valI16, timeAbs))
	put(31, 5, plain("frozen_analog_input_32_bit", 4, valI32, timeNone))
	put(31, 6, plain("frozen_analog_input_16_bit", 2, valI16, timeNone))
	put(31, 7, flagged("frozen_analog_input_float_with_flag", 5, flagsAnalog, valF32, timeNone))
	put(31, 8, flagged("frozen_analog_input_double_with_flag", 9, flagsAnalog, valF64, timeNone))
	events := []struct {
		v    uint8
		name string
		size uint8
		val  valueKind
		tk   timeKind
	}{
		{1, "32_bit", 5, valI32, timeNone},
		{2, "16_bit", 3, valI16, timeNone},
		{3, "32_bit_with_time", 11, valI32, timeAbs},
		{4, "16_bit_with_time", 9, valI16, timeAbs},
		{5, "float", 5, valF32, timeNone},
		{6, "double", 9, valF64, timeNone},
		{7, "float_with_time", 11, valF32, timeAbs},
		{8, "double_with_time", 15, valF64, timeAbs},
	}
	for _, e := range events {
		put(32, e.v, flagged("analog_input_event_"+e.name, e.size, flagsAnalog, e.val, e.tk))
		put(33, e.v, flagged("frozen_analog_input_event_"+e.name, e.size, flagsAnalog, e.val, e.tk))
		put(42, e.v, flagged("analog_output_event_"+e.name, e.size, flagsAnalog, e.val, e.tk))
		put(43, e.v, flagged("analog_output_command_event_"+e.name, e.size, flagsCommand, e.val, e.tk))
	}
	put(34, 1, plain("analog_input_deadband_16_bit", 2, valU16, timeNone))
	put(34, 2, plain("analog_input_deadband_32_bit", 4, valU32, timeNone))
	put(34, 3, plain("analog_input_deadband_float", 4, valF32, timeNone))

	// Analog outputs (11.9.19-11.9.22).
	put(40, 1, flagged("analog_output_status_32_bit", 5, flagsAnalog, valI32, timeNone))
	put(40, 2, flagged("analog_output_status_16_bit", 3, flagsAnalog, valI16, timeNone))
	put(40, 3, flagged("analog_output_status_float", 5, flagsAnalog, valF32, timeNone))
	put(40, 4, flagged("analog_output_status_double", 9, flagsAnalog, valF64, timeNone))
	put(41, 1, varInfo{name: "analog_output_32_bit", size: 5, value: valI32, layout: layoutOutputBlock})
	put(41, 2, varInfo{name: "analog_output_16_bit", size: 3, value: valI16, layout: layoutOutputBlock})
	put(41, 3, varInfo{name: "analog_output_float", size: 5, value: valF32, layout: layoutOutputBlock})
	put(41, 4, varInfo{name: "analog_output_double", size: 9, value: valF64, layout: layoutOutputBlock})

	// Time (11.9.23-11.9.25).
	put(50, 1, plain("time_and_date", 6, valTime, timeNone))
	put(50, 2, varInfo{name: "time_and_date_with_interval", size: 10, value: valTime, layout: layoutTimeInterval})
	put(50, 3, plain("time_and_date_last_recorded", 6, valTime, timeNone))
	put(50, 4, varInfo{name: "indexed_time_and_date_with_interval", size: 11, value: valTime, layout: layoutIndexedTime})
	put(51, 1, plain("time_and_date_cto", 6, valTime, timeNone))
	put(51, 2, plain("time_and_date_cto_unsynchronized", 6, valTime, timeNone))
	put(52, 1, varInfo{name: "time_delay_coarse", size: 2, value: valU16, layout: layoutDelay})
	put(52, 2, varInfo{name: "time_delay_fine", size: 2, value: valU16, layout: layoutDelay})

	// Class data (11.9.26): names only, never data.
	for v, n := range []string{"class_0_data", "class_1_data", "class_2_data", "class_3_data"} {
		put(60, uint8(v+1), varInfo{name: n})
	}

	// File transfer (11.9.27): free format.
	for v, n := range []string{"file_identifier", "file_authentication", "file_command", "file_command_status",
		"file_transport", "file_transport_status", "file_descriptor", "file_specification_string"} {
		put(70, uint8(v+1), varInfo{name: n, layout: layoutFile, free: true})
	}

	// Internal indications (11.9.28): packed bits, indexed by IIN bit.
	put(80, 1, varInfo{name: "internal_indications", bits: 1, value: valState})

	// Data sets and application identifiers (11.9.30-11.9.37): free format,
	// shown as octets.
	for _, d := range []struct {
		g, v uint8
		name string
	}{
		{83, 1, "private_registration_object"}, {83, 2, "private_registration_object_descriptor"},
		{85, 1, "data_set_prototype_with_uuid"}, {86, 1, "data_set_descriptor_contents"},
		{86, 3, "data_set_descriptor_point_index_attributes"}, {87, 1, "data_set_present_value"},
		{88, 1, "data_set_snapshot"}, {90, 1, "application_identifier"},
		{91, 1, "activate_configuration_status"},
	} {
		put(d.g, d.v, varInfo{name: d.name, layout: layoutRaw, free: true})
	}
	put(86, 2, varInfo{name: "data_set_descriptor_characteristics", size: 1, value: valU8})

	put(101, 1, plain("bcd_small", 2, valBCD16, timeNone))
	put(101, 2, plain("bcd_medium", 4, valBCD32, timeNone))
	put(101, 3, plain("bcd_large", 8, valBCD64, timeNone))
	put(102, 1, plain("unsigned_integer_8_bit", 1, valU8, timeNone))

	// Secure authentication (IEEE 1815-2012, 7.6 and 11.9.38): free
	// format but for the two fixed-size requests.
	for v, n := range []string{"authentication_challenge", "authentication_reply", "authentication_aggressive_mode_request",
		"authentication_session_key_status_request", "authentication_session_key_status", "authentication_session_key_change",
		"authentication_error", "authentication_user_certificate", "authentication_mac", "authentication_user_status_change",
		"authentication_update_key_change_request", "authentication_update_key_change_reply", "authentication_update_key_change",
		"authentication_update_key_change_signature", "authentication_update_key_change_confirmation"} {
		put(120, uint8(v+1), varInfo{name: n, layout: layoutAuth, free: true})
	}
	put(120, 3, varInfo{name: "authentication_aggressive_mode_request", size: 6, layout: layoutAuth})
	put(120, 4, varInfo{name: "authentication_session_key_status_request", size: 2, layout: layoutAuth})
	put(121, 1, varInfo{name: "security_statistic", size: 7, layout: layoutStatistic})
	put(122, 1, varInfo{name: "security_statistic_event", size: 7, layout: layoutStatistic})
	put(122, 2, varInfo{name: "security_statistic_event_with_time", size: 13, layout: layoutStatistic})
	return t
}

// lookup returns the description of group g, variation v; octet strings
// (g110-g113) are made up on the spot, their variation being their length.
func lookup(g, v uint8) varInfo {
	switch g {
	case 0:
		if v == 0 {
			return varInfo{}
		}
		return varInfo{name: attributeName(v), layout: layoutAttribute, free: true}
	case 110, 111, 112, 113:
		// The variation is the string's length; 0 is the empty string.
		return varInfo{name: groupNames[g], size: v, value: valOctets}
	}
	if int(v) < len(varTable[g]) {
		return varTable[g][v]
	}
	return varInfo{}
}

// Device attribute variations of group 0 (IEEE 1815-2012, 11.9.2 table
// 11-8), by variation; the names follow the standard's descriptions.
var attributeNames = map[uint8]string{
	196: "configuration_id", 197: "configuration_version", 198: "configuration_build_date",
	199: "configuration_last_change_date", 200: "configuration_signature", 201: "configuration_signature_algorithm",
	202: "master_resource_id", 203: "device_location_altitude", 204: "device_location_longitude",
	205: "device_location_latitude", 206: "user_assigned_secondary_operator_name",
	207: "user_assigned_primary_operator_name", 208: "user_assigned_system_name", 209: "secure_authentication_version",
	210: "number_of_security_statistics_per_association", 211: "user_specific_attributes",
	212: "number_of_master_defined_data_set_prototypes", 213: "number_of_outstation_defined_data_set_prototypes",
	214: "number_of_master_defined_data_sets", 215: "number_of_outstation_defined_data_sets",
	216: "max_binary_outputs_per_request", 217: "local_timing_accuracy", 218: "duration_of_time_accuracy",
	219: "support_for_analog_output_events", 220: "max_analog_output_index", 221: "number_of_analog_outputs",
	222: "support_for_binary_output_events", 223: "max_binary_output_index", 224: "number_of_binary_outputs",
	225: "support_for_frozen_counter_events", 226: "support_for_frozen_counters", 227: "support_for_counter_events",
	228: "max_counter_index", 229: "number_of_counter_points", 230: "support_for_frozen_analog_inputs",
	231: "support_for_analog_input_events", 232: "max_analog_input_index", 233: "number_of_analog_input_points",
	234: "support_for_double_bit_binary_input_events", 235: "max_double_bit_binary_input_index",
	236: "number_of_double_bit_binary_input_points", 237: "support_for_binary_input_events",
	238: "max_binary_input_index", 239: "number_of_binary_input_points", 240: "max_transmit_fragment_size",
	241: "max_receive_fragment_size", 242: "device_manufacturer_software_version",
	243: "device_manufacturer_hardware_version", 244: "user_assigned_owner_name", 245: "user_assigned_location",
	246: "user_assigned_id_code", 247: "user_assigned_device_name", 248: "device_serial_number",
	249: "dnp3_subset_and_conformance", 250: "device_manufacturer_product_name_and_model",
	252: "device_manufacturer_name", 254: "all_attributes_request", 255: "list_of_attribute_variations",
}

var attributeNameTable = func() (t [256]string) {
	for v := range t {
		if n, ok := attributeNames[uint8(v)]; ok {
			t[v] = n
		} else {
			t[v] = "device_attribute"
		}
	}
	return t
}()

func attributeName(v uint8) string { return attributeNameTable[v] }

// ObjectName returns the snake_case name of group g, variation v
// ("analog_input_16_bit_with_flag"), the group's name for a variation not
// described here (variation 0 reads "all variations"), or "" for a group
// IEEE 1815-2012 does not define.
func ObjectName(g, v uint8) string {
	if info := lookup(g, v); info.known() {
		return info.name
	}
	return groupNames[g]
}
