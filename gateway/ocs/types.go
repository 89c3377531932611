package ocs

import (
	"bytes"
	"encoding/json"
	"fmt"
)

// Message types of the contract. Field order is the reference's (Jackson,
// declaration order); no field is omitempty, because Jackson writes absent
// Optionals as null. Unknown keys are ignored when reading, as Spring's
// ObjectMapper does.

// ProtocolError is an SDO protocol failure: {"ec":int,"emsg":int,"em":string}.
type ProtocolError struct {
	EC   int     `json:"ec"`   // error code
	EMsg int     `json:"emsg"` // message type that failed
	EM   *string `json:"em"`   // error message
}

// DeviceState is a device's TO0/TO2 state. Every field is optional; a nil
// field is written as null. Timestamps are ISO_LOCAL_DATE_TIME strings
// ([FormatTimestamp]).
type DeviceState struct {
	To2State     *string        `json:"to2State"` // "to2begin", "to2end", "to2error"
	To2Timestamp *string        `json:"to2Timestamp"`
	To2Error     *ProtocolError `json:"to2Error"`
	To0Timestamp *string        `json:"to0Timestamp"`
	To0Error     *ProtocolError `json:"to0Error"` // an object, not the String the contract text says
	To0Ws        *int           `json:"to0Ws"`    // seconds the last TO0 stays valid
	G3           *string        `json:"g3"`
}

// Merge applies an update the way ocsfs does for POST state and POST
// errors: to2State, to2Timestamp, to0Timestamp, to0Ws and g3 overwrite only
// when present; to2Error and to0Error are always overwritten, so an update
// without an error clears the stored one.
func (s *DeviceState) Merge(u DeviceState) {
	if u.To2State != nil {
		s.To2State = u.To2State
	}
	if u.To2Timestamp != nil {
		s.To2Timestamp = u.To2Timestamp
	}
	if u.To0Timestamp != nil {
		s.To0Timestamp = u.To0Timestamp
	}
	if u.To0Ws != nil {
		s.To0Ws = u.To0Ws
	}
	if u.G3 != nil {
		s.G3 = u.G3
	}
	s.To2Error = u.To2Error
	s.To0Error = u.To0Error
}

// ModuleMessage is one (pre-)serviceinfo key/value for a module: the owner's
// PSI entries and the device's serviceinfo.
type ModuleMessage struct {
	Module string `json:"module"`
	Msg    string `json:"msg"`
	Value  string `json:"value"`
}

// SviMessage is one entry of the owner serviceinfo list. ValueLen is the raw
// byte length of the value; a negative ValueLen in the store means "the
// current size of the value", which GET msgs fills in. Enc is "base64" or
// "ascii" and tells only the OPS how to encode the raw value.
type SviMessage struct {
	Module   string `json:"module"`
	Msg      string `json:"msg"`
	ValueLen int    `json:"valueLen"`
	ValueID  string `json:"valueId"`
	Enc      string `json:"enc"`
}

// RendezvousInstruction is one entry of the rendezvous info (SDO
// RendezvousInfo); every field is optional.
type RendezvousInstruction struct {
	Only     *string `json:"only"`
	IP       *string `json:"ip"`
	Po       *int    `json:"po"`
	Pow      *int    `json:"pow"`
	DN       *string `json:"dn"`
	Sch      *string `json:"sch"`
	Cch      *string `json:"cch"`
	UI       *int    `json:"ui"`
	SS       *string `json:"ss"`
	PW       *string `json:"pw"`
	WSP      *string `json:"wsp"`
	ME       *string `json:"me"`
	PR       *string `json:"pr"`
	DelaySec *int    `json:"delaysec"`
}

// SetupInfoResponse is the device's new GUID (a UUID string: the OPS calls
// UUID.fromString on it) and rendezvous info; an empty R3 keeps the old one.
type SetupInfoResponse struct {
	R3 []RendezvousInstruction `json:"r3"`
	G3 string                  `json:"g3"`
}

// SignatureResponse is the owner's signature over the text sent: PK is the
// base64 X.509 SubjectPublicKeyInfo DER, Alg "EC" or "RSA", SG the base64
// signature (ASN.1 ECDSA or PKCS#1 v1.5).
type SignatureResponse struct {
	PK  string `json:"pk"`
	Alg string `json:"alg"`
	SG  string `json:"sg"`
}

// Fragment is an opaque SDO-codec text held in a JSON string of the session
// info (n6, kx, ownershipProxy, xb, ctrNonce, ...). It keeps the JSON token
// as received, quotes and escapes included, and writes it back unchanged;
// nil is null. Some values contain literal quotes ("\"b64\"").
type Fragment []byte

// FragmentOf returns the Fragment holding the string s.
func FragmentOf(s string) Fragment {
	b, _ := json.Marshal(s)
	return Fragment(b)
}

// Text returns the string the fragment holds; ok is false for null.
func (f Fragment) Text() (s string, ok bool) {
	if f == nil {
		return "", false
	}
	if err := json.Unmarshal(f, &s); err != nil {
		return "", false
	}
	return s, true
}

// MarshalJSON writes the token as received, or null.
func (f Fragment) MarshalJSON() ([]byte, error) {
	if f == nil {
		return []byte("null"), nil
	}
	return f, nil
}

// UnmarshalJSON keeps a JSON string token verbatim; null gives nil. Any
// other token is an error.
func (f *Fragment) UnmarshalJSON(b []byte) error {
	if bytes.Equal(b, []byte("null")) {
		*f = nil
		return nil
	}
	if len(b) < 2 || b[0] != '"' || !json.Valid(b) {
		return fmt.Errorf("ocs: session fragment: %w: want a JSON string or null, got %.20q", ErrInvalid, b)
	}
	*f = append(Fragment(nil), b...)
	return nil
}

// Message41Store is the TO2.HelloDevice/ProveOPHdr part of a TO2 session.
type Message41Store struct {
	N6               Fragment `json:"n6"`
	KX               Fragment `json:"kx"`
	OwnershipProxy   Fragment `json:"ownershipProxy"` // the contract text says ownershipVoucher
	CS               Fragment `json:"cs"`
	KXEcdhPublicKey  Fragment `json:"kxEcdhPublicKey"`
	KXEcdhPrivateKey Fragment `json:"kxEcdhPrivateKey"`
	KXEcdhRandom     Fragment `json:"kxEcdhRandom"`
	KXDhPublicKey    Fragment `json:"kxDhPublicKey"`
	KXDhPrivateKey   Fragment `json:"kxDhPrivateKey"`
	AsymRandom       Fragment `json:"asymRandom"`
}

// Message45Store is the TO2.ProveDevice/GetNextDeviceServiceInfo part.
type Message45Store struct {
	N7 Fragment `json:"n7"`
	NN *int     `json:"nn"`
	XB Fragment `json:"xb"`
}

// Message47Store holds the new voucher (without hmac) until TO2 ends.
type Message47Store struct {
	NewOwnershipProxy Fragment `json:"newOwnershipProxy"` // the contract text says newOwnershipVoucher
}

// DeviceCryptoInfo is the CTR-mode IV state of the TO2 cipher.
type DeviceCryptoInfo struct {
	CtrNonce   Fragment `json:"ctrNonce"`
	CtrCounter int64    `json:"ctrCounter"`
}

// To2DeviceSessionInfo is the whole TO2 session. In a POST a nil sub-object
// means "keep the stored one"; GET always returns all four as objects. The
// keys have one "s" (message41Store); the triple-s spelling is a docs typo
// that the reference silently ignores.
type To2DeviceSessionInfo struct {
	Message41Store   *Message41Store   `json:"message41Store"`
	Message45Store   *Message45Store   `json:"message45Store"`
	Message47Store   *Message47Store   `json:"message47Store"`
	DeviceCryptoInfo *DeviceCryptoInfo `json:"deviceCryptoInfo"`
}

// To0Request asks the To0Scheduler to run TO0 for devices. WaitSeconds is a
// decimal string on the wire, as the reference client sends it.
type To0Request struct {
	GUIDs       []string `json:"guids"`
	WaitSeconds string   `json:"waitSeconds"`
}

// Health is GET /health: the application version and a java.sql.Timestamp
// text ("2021-03-04 10:11:12.123").
type Health struct {
	Version   string `json:"version"`
	Timestamp string `json:"timestamp"`
}

// marshal encodes v as the reference does: compact, without HTML escaping
// (so fragments and voucher text go out byte for byte), no trailing newline.
func marshal(v any) ([]byte, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	return bytes.TrimSuffix(buf.Bytes(), []byte("\n")), nil
}
