// Package wire is the JOSP 2.0 codec of the direct ("local") communication
// between JOSP objects and JOSP services: the `##` framing, every message
// of both directions, the object structure's JSON, permission rows,
// history limits, history and event rows, and pillar payloads. It does no
// I/O of its own beyond reading frames from an io.Reader, starts no
// goroutines and logs nothing, so it is fuzzable and runs anywhere.
//
// # Framing
//
// A JOSP stream is UTF-8 text cut into frames by the two bytes `##`
// (0x23 0x23); nothing is escaped and there is no length prefix. Empty
// frames are skipped. Besides the JOSP messages the stream carries the
// identity lines (`\n<objId>\n` from the object, `<fullSrvId>\n` from the
// service), the heartbeat frames `hb_rq` and `hb_rs`, and `bye`.
//
// # Messages
//
//	JOSP/2.0 <MSG_TYPE> <yyyyMMdd-HHmmssSSS>\n
//	<key>:<value>\n
//	...
//	[payload lines]
//
// Fields are positional: the reference implementation reads line i's value
// after its first ':' whatever the key says, so the parsers here do the
// same (a line without ':' is its own value) and the formatters write the
// keys and the order the reference writes. Trailing empty lines are
// dropped, as Java's String.split does. The header's timestamp is local
// time and nobody interprets it; a timestamp that does not parse is not an
// error (the message's Time is then zero).
//
// Where the reference's versions differ the parsers accept both forms:
// `updType:` or `cmdType:` in UPD_MSG, a CMD_MSG whose objId line has no
// key, the permission level `Status` (≤ 2.2.3) for `State`, and the
// history request under both `H_HISTORY_MSG` (2.2.4) and `H_STATUS_MSG`
// (≤ 2.2.3). The formatters write the 2.2.4 forms.
//
// # Numbers
//
// Range values in payloads are written like Java's String.format("%f"):
// six decimals, rounded half up from the shortest decimal representation.
// Numbers in the structure JSON (min, max, step, state) are written like
// Java's Double.toString, always with a decimal point or an exponent,
// because the reference's service library casts them to Double and fails
// on a JSON integer.
package wire
