package osp

import (
	"encoding/binary"
	"fmt"
)

// ConnState is the first byte of every CONNECT body (clause 6.1).
type ConnState uint8

// The ConnStates of OSP 2.0.
const (
	ConnTerminated ConnState = 0x00 // Access denied / session closed
	ConnInit       ConnState = 0x01 // Initializing new connection
	ConnServerAuth ConnState = 0x02 // Server authentication message
	ConnClientAuth ConnState = 0x03 // Client authentication message
	ConnGranted    ConnState = 0x04 // Access granted, session open
	ConnPaused     ConnState = 0x05 // Session paused
)

var connStateNames = [...]string{"terminated", "init", "server-auth", "client-auth", "granted", "paused"}

// String names the state.
func (s ConnState) String() string {
	if int(s) < len(connStateNames) {
		return connStateNames[s]
	}
	return fmt.Sprintf("connstate(0x%02x)", uint8(s))
}

// IVLen is the length of each init vector: half of AES-128's block.
const IVLen = 8

// Connect is the body of a CONNECT packet in any of its forms:
//
//	0x00 terminated       ConnState
//	0x01 init, plain      ConnState DeviceType(2) ModuleID(4)
//	0x01 init, secure     ConnState DeviceType(2) ModuleID(4) ClientInitVector(8)
//	0x02 server auth      ConnState TimeStamp(4) ECB(ServerIV||ClientIV)(16)
//	0x03 client auth      ConnState ECB(ClientIV||ServerIV)(16)
//	0x04 granted, secure  ConnState               (under EAX)
//	0x04 granted, plain   ConnState TimeStamp(4)
//	0x05 paused           ConnState
type Connect struct {
	State ConnState
	// Secure selects the secure form of ConnInit and ConnGranted.
	Secure     bool
	DeviceType uint16
	ModuleID   uint32
	// ClientIV is the ClientInitVector of a secure ConnInit.
	ClientIV [IVLen]byte
	// Timestamp is UNIX time, in ConnServerAuth and a plain ConnGranted.
	Timestamp uint32
	// Block holds the 16 ECB-encrypted bytes of ConnServerAuth and
	// ConnClientAuth.
	Block [2 * IVLen]byte
}

// AppendBody appends the encoded body.
func (c *Connect) AppendBody(b []byte) ([]byte, error) {
	b = append(b, byte(c.State))
	switch c.State {
	case ConnTerminated, ConnPaused:
	case ConnInit:
		b = binary.BigEndian.AppendUint16(b, c.DeviceType)
		b = binary.BigEndian.AppendUint32(b, c.ModuleID)
		if c.Secure {
			b = append(b, c.ClientIV[:]...)
		}
	case ConnServerAuth:
		b = binary.BigEndian.AppendUint32(b, c.Timestamp)
		b = append(b, c.Block[:]...)
	case ConnClientAuth:
		b = append(b, c.Block[:]...)
	case ConnGranted:
		if !c.Secure {
			b = binary.BigEndian.AppendUint32(b, c.Timestamp)
		}
	default:
		return b[:len(b)-1], fmt.Errorf("%w: 0x%02x", ErrConnState, uint8(c.State))
	}
	return b, nil
}

// Unmarshal decodes a CONNECT body. The form is told apart by ConnState and
// length; ConnInit and ConnGranted set Secure accordingly.
func (c *Connect) Unmarshal(b []byte) error {
	if len(b) < 1 {
		return fmt.Errorf("%w: empty CONNECT body", ErrTruncated)
	}
	*c = Connect{State: ConnState(b[0])}
	body := b[1:]
	want := func(n ...int) error {
		for _, x := range n {
			if len(body) == x {
				return nil
			}
		}
		if len(body) < n[0] {
			return fmt.Errorf("%w: CONNECT %s body of %d bytes", ErrTruncated, c.State, len(b))
		}
		return fmt.Errorf("%w: CONNECT %s body of %d bytes", ErrBodyLength, c.State, len(b))
	}
	switch c.State {
	case ConnTerminated, ConnPaused:
		return want(0)
	case ConnInit:
		if err := want(6, 6+IVLen); err != nil {
			return err
		}
		c.DeviceType = binary.BigEndian.Uint16(body[0:2])
		c.ModuleID = binary.BigEndian.Uint32(body[2:6])
		if len(body) == 6+IVLen {
			c.Secure = true
			copy(c.ClientIV[:], body[6:])
		}
	case ConnServerAuth:
		if err := want(4 + 2*IVLen); err != nil {
			return err
		}
		c.Timestamp = binary.BigEndian.Uint32(body[0:4])
		copy(c.Block[:], body[4:])
	case ConnClientAuth:
		if err := want(2 * IVLen); err != nil {
			return err
		}
		copy(c.Block[:], body)
	case ConnGranted:
		if err := want(0, 4); err != nil {
			return err
		}
		if len(body) == 4 {
			c.Timestamp = binary.BigEndian.Uint32(body)
		} else {
			c.Secure = true
		}
	default:
		return fmt.Errorf("%w: 0x%02x", ErrConnState, uint8(c.State))
	}
	return nil
}

// CommandRequest is a Server » Client COMMAND body (clause 7.1).
type CommandRequest struct {
	ID     uint8
	Script []byte
}

// AppendBody appends CommandID and the script.
func (c *CommandRequest) AppendBody(b []byte) []byte {
	return append(append(b, c.ID), c.Script...)
}

// Unmarshal decodes the body; Script aliases b.
func (c *CommandRequest) Unmarshal(b []byte) error {
	if len(b) < 1 {
		return fmt.Errorf("%w: COMMAND request", ErrTruncated)
	}
	c.ID, c.Script = b[0], b[1:]
	return nil
}

// Command exit codes defined by clause 7.2; 0x03–0xFF are device specific.
const (
	ExitFailed  uint8 = 0x00
	ExitSuccess uint8 = 0x01
	ExitBusy    uint8 = 0x02
)

// CommandResponse is a Client » Server COMMAND body (clause 7.2).
type CommandResponse struct {
	ID       uint8
	ExitCode uint8
	Response []byte
}

// AppendBody appends CommandID, ExitCode and the response.
func (c *CommandResponse) AppendBody(b []byte) []byte {
	return append(append(b, c.ID, c.ExitCode), c.Response...)
}

// Unmarshal decodes the body; Response aliases b.
func (c *CommandResponse) Unmarshal(b []byte) error {
	if len(b) < 2 {
		return fmt.Errorf("%w: COMMAND response", ErrTruncated)
	}
	c.ID, c.ExitCode, c.Response = b[0], b[1], b[2:]
	return nil
}

// FirmwareNameLen is the fixed length of FirmwareName on the wire.
const FirmwareNameLen = 20

// FirmwareName is the 20-byte firmware identifier, right-padded with NUL.
type FirmwareName [FirmwareNameLen]byte

// MakeFirmwareName pads s with NUL to 20 bytes; longer names are an error.
func MakeFirmwareName(s string) (FirmwareName, error) {
	var n FirmwareName
	if len(s) > FirmwareNameLen {
		return n, fmt.Errorf("osp: firmware name %q is longer than %d bytes", s, FirmwareNameLen)
	}
	copy(n[:], s)
	return n, nil
}

// String returns the name with trailing NULs stripped.
func (n FirmwareName) String() string {
	end := len(n)
	for end > 0 && n[end-1] == 0 {
		end--
	}
	return string(n[:end])
}

// FirmwareRequest is a Client » Server FIRMWARE body (clause 8.1).
type FirmwareRequest struct {
	ChunkID uint16
	Name    FirmwareName
}

// AppendBody appends ChunkID and FirmwareName.
func (f *FirmwareRequest) AppendBody(b []byte) []byte {
	return append(binary.BigEndian.AppendUint16(b, f.ChunkID), f.Name[:]...)
}

// Unmarshal decodes the body, which is exactly 22 bytes.
func (f *FirmwareRequest) Unmarshal(b []byte) error {
	switch {
	case len(b) < 2+FirmwareNameLen:
		return fmt.Errorf("%w: FIRMWARE request of %d bytes", ErrTruncated, len(b))
	case len(b) > 2+FirmwareNameLen:
		return fmt.Errorf("%w: FIRMWARE request of %d bytes", ErrBodyLength, len(b))
	}
	f.ChunkID = binary.BigEndian.Uint16(b)
	copy(f.Name[:], b[2:])
	return nil
}

// FirmwareResponse is a Server » Client FIRMWARE body (clause 8.2). Empty Data
// means the firmware or chunk does not exist.
type FirmwareResponse struct {
	ChunkID uint16
	Name    FirmwareName
	Data    []byte
}

// AppendBody appends ChunkID, FirmwareName and ChunkData.
func (f *FirmwareResponse) AppendBody(b []byte) []byte {
	return append(append(binary.BigEndian.AppendUint16(b, f.ChunkID), f.Name[:]...), f.Data...)
}

// Unmarshal decodes the body; Data aliases b.
func (f *FirmwareResponse) Unmarshal(b []byte) error {
	if len(b) < 2+FirmwareNameLen {
		return fmt.Errorf("%w: FIRMWARE response of %d bytes", ErrTruncated, len(b))
	}
	f.ChunkID = binary.BigEndian.Uint16(b)
	copy(f.Name[:], b[2:2+FirmwareNameLen])
	f.Data = b[2+FirmwareNameLen:]
	return nil
}

// DataTypeStub is the DataType of the empty DATA packet a client sends when a
// RESEND names a packet it no longer has (clause 9.1).
const DataTypeStub uint16 = 0x0000

// Data is a DATA body (clause 9.1).
type Data struct {
	MessageID uint8
	DataType  uint16
	Payload   []byte
}

// AppendBody appends MessageID, DataType and the payload.
func (d *Data) AppendBody(b []byte) []byte {
	b = binary.BigEndian.AppendUint16(append(b, d.MessageID), d.DataType)
	return append(b, d.Payload...)
}

// Unmarshal decodes the body; Payload aliases b.
func (d *Data) Unmarshal(b []byte) error {
	if len(b) < 3 {
		return fmt.Errorf("%w: DATA body of %d bytes", ErrTruncated, len(b))
	}
	d.MessageID = b[0]
	d.DataType = binary.BigEndian.Uint16(b[1:3])
	d.Payload = b[3:]
	return nil
}

// UnmarshalMessageID decodes the one-byte body of ACKNOWLEDGE and RESEND
// packets (clauses 9.2, 9.3).
func UnmarshalMessageID(b []byte) (uint8, error) {
	switch {
	case len(b) < 1:
		return 0, fmt.Errorf("%w: MessageID body", ErrTruncated)
	case len(b) > 1:
		return 0, fmt.Errorf("%w: MessageID body of %d bytes", ErrBodyLength, len(b))
	}
	return b[0], nil
}

// checkEmpty validates the empty bodies of PINGREQ and PINGRESP.
func checkEmpty(t MsgType, b []byte) error {
	if len(b) != 0 {
		return fmt.Errorf("%w: %s carries %d body bytes", ErrBodyLength, t, len(b))
	}
	return nil
}
