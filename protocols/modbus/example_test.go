package modbus_test

import (
	"fmt"
	"time"

	"github.com/sluice-ics/sluice/protocols/modbus"
)

// One connection: a Framer per direction, one Pairer, an event per
// transaction. The request arrives split over two segments.
func Example() {
	var toServer, toClient modbus.Framer
	pairer := modbus.NewPairer(0, 0)
	t0 := time.Date(2026, 11, 21, 22, 33, 0, 0, time.UTC)
	print := func(tx *modbus.Transaction) { fmt.Println(string(tx.AppendJSON(nil))) }

	// 0005 0000 000b 01 | 10 0064 0002 04 0011 002a
	req := []byte{0x00, 0x05, 0x00, 0x00, 0x00, 0x0b, 0x01, 0x10, 0x00, 0x64, 0x00, 0x02, 0x04, 0x00, 0x11, 0x00, 0x2a}
	// 0005 0000 0006 01 | 10 0064 0002
	resp := []byte{0x00, 0x05, 0x00, 0x00, 0x00, 0x06, 0x01, 0x10, 0x00, 0x64, 0x00, 0x02}

	for _, seg := range [][]byte{req[:9], req[9:]} {
		if err := toServer.Feed(seg, func(a modbus.ADU) { pairer.Request(a, t0, print) }); err != nil {
			fmt.Println(err)
		}
	}
	if err := toClient.Feed(resp, func(a modbus.ADU) { pairer.Response(a, t0.Add(830*time.Microsecond), print) }); err != nil {
		fmt.Println(err)
	}
	// Output:
	// {"transaction_id":5,"unit_id":1,"function_code":16,"function":"write_multiple_registers","request":{"address":100,"quantity":2,"values":[17,42]},"response":{"address":100,"quantity":2},"latency_us":830}
}

// Encoders build what the simulator serves: here a device identification
// response.
func ExampleResponse_AppendPDU() {
	r := modbus.Response{
		Function: modbus.FuncEncapsulatedInterfaceTransport,
		MEI:      modbus.MEIReadDeviceID,
		DeviceID: modbus.DeviceID{
			ReadCode:   modbus.ReadDeviceIDBasic,
			Conformity: 0x01,
			Objects: modbus.MakeObjects(
				modbus.Object{ID: modbus.ObjVendorName, Value: []byte("Sluice")},
				modbus.Object{ID: modbus.ObjProductCode, Value: []byte("DAM-1")},
			),
		},
	}
	pdu, err := r.AppendPDU(nil)
	if err != nil {
		fmt.Println(err)
		return
	}
	adu, _ := (&modbus.ADU{TransactionID: 1, UnitID: 1, PDU: pdu}).Append(nil)
	fmt.Printf("% x\n", adu)
	// Output:
	// 00 01 00 00 00 17 01 2b 0e 01 01 00 00 02 00 06 53 6c 75 69 63 65 01 05 44 41 4d 2d 31
}
