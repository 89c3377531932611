package serial_test

import (
	"fmt"
	"time"

	"github.com/edgegate/edgegate/drivers/serial"
	"github.com/edgegate/edgegate/gateway/osp"
)

// A framer cuts packets out of reads that do not follow packet boundaries and
// drops the noise around them.
func ExampleFramer() {
	ping, _ := osp.AppendPlain(nil, 0x1234, 9, osp.TypePingReq, 0, nil)
	data, _ := osp.AppendPlain(nil, 0x1234, 10, osp.TypeData, osp.FlagAckReq, []byte{0x91, 0x92})
	stream := append(append([]byte{0xff, 0xfe}, ping...), data...)

	f := serial.NewFramer(serial.FramerConfig{MaxPacketSize: 256, IdleTimeout: 250 * time.Millisecond})
	now := time.Now()
	for _, read := range [][]byte{stream[:10], stream[10:]} { // cut inside DATA
		f.Feed(now, read, func(pkt []byte) {
			h, _, _ := osp.ParseHeader(pkt)
			fmt.Println(h.Type, h.Flags, len(pkt), "bytes")
		})
	}
	fmt.Println(f.Stats().DiscardedBytes, "bytes dropped")
	// Output:
	// PINGREQ none 6 bytes
	// DATA ..A. 8 bytes
	// 2 bytes dropped
}
