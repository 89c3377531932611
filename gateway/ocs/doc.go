// Package ocs speaks the Owner Companion Service (OCS) REST contract of the
// SDO IoT Platform SDK (libocs/ocsfs v1.10.8): the typed Client that the
// gateway uses upstream, the Server (an http.Handler on its own bbolt file)
// that cmd/ocsd and the embedded default upstream serve, and the gateway's
// forwarder and puller built on the client.
//
// The wire is the reference implementation's, not the published contract's
// text. Where the two differ the code follows what ocsfs, the OPS and the
// To0Scheduler put on the wire:
//
//   - every OCS route starts with /v1, blob and resale included; GET /health
//     has none. POST /v1/devices//voucher (the OPS's empty path variable) is
//     accepted like POST /v1/devices/voucher.
//   - PUT msgs carries [SviMessage] (replace); POST msgs carries
//     [ModuleMessage] (appended to the device serviceinfo).
//   - values and ciphers are raw bytes (application/octet-stream); GET values
//     takes required start (inclusive) and end (exclusive, clamped to the end
//     of the value); the value key is global, the deviceId is ignored.
//   - DeviceState's to0Error is a ProtocolError object; POST state and POST
//     errors merge (see [DeviceState.Merge]).
//   - session-info keys are message41Store, message45Store, message47Store,
//     ownershipProxy and newOwnershipProxy; GET sessioninfo always returns all
//     four sub-objects; POST sessioninfo replaces only the sub-objects sent.
//   - timestamps are Java ISO_LOCAL_DATE_TIME in UTC, without zone:
//     [FormatTimestamp], [ParseTimestamp].
//   - the voucher and the session-info fragments are opaque SDO-codec text,
//     stored and served byte for byte ([Fragment], json.RawMessage).
//
// # Endpoints (Server)
//
//	GET    /v1/devices/{id}/voucher        voucher bytes verbatim | 404
//	POST   /v1/devices/voucher             voucher (application/json); also //voucher
//	GET    /v1/devices/{id}/state          DeviceState | 404
//	POST   /v1/devices/{id}/state          DeviceState, merged
//	GET    /v1/devices/{id}/msgs           [SviMessage] | 404 (also a valueLen<0 entry whose value is missing)
//	PUT    /v1/devices/{id}/msgs           [SviMessage], replaces
//	POST   /v1/devices/{id}/msgs           [ModuleMessage], appended
//	DELETE /v1/devices/{id}/msgs           200 always
//	GET    /v1/devices/{id}/psi            [ModuleMessage] | 404
//	GET    /v1/devices/{id}/values/{v}?start=S&end=E   raw bytes | 400 (start/end missing or not int) | 404 | 500 (S<0, S>len, E<S)
//	PUT    /v1/devices/{id}/values/{v}     raw bytes (application/octet-stream)
//	DELETE /v1/devices/{id}/values/{v}     200 always
//	GET    /v1/devices/{id}/setupinfo      SetupInfoResponse (g3 a new random UUID, or id with CredentialReuse)
//	POST   /v1/devices/{id}/errors         DeviceState, merged | 500 on an empty body
//	GET    /v1/devices/{id}/sessioninfo    To2DeviceSessionInfo (all four objects)
//	POST   /v1/devices/{id}/sessioninfo    To2DeviceSessionInfo, partial
//	DELETE /v1/devices/{id}/sessioninfo    200
//	DELETE /v1/devices/{id}/blob           200 (values are kept)
//	GET    /v1/devices/{id}/resale         true | false
//	POST   /v1/signatures/{id}             text -> SignatureResponse | 500 (empty body, no owner key)
//	POST   /v1/ciphers/{id}?operation=encipher|decipher   raw -> raw | 400 (no operation) | 500
//	GET    /health                         {"version":..,"timestamp":..}
//
// Writes answer 200 with an empty body. Errors have empty bodies: 404 where
// the reference answers 404, 400 for a body or query Spring would refuse,
// 415 for a wrong Content-Type on a route that declares one, 406 for an
// Accept header that admits nothing a route produces, 413 for an over-long
// body, 500 where the reference throws.
//
// The client side also covers the To0Scheduler's POST /v1/to0/devices, and
// [RunTo0] is the OCS's loop towards it: every interval, the devices due for
// TO0 ([Store.To0Candidates], selected as ocsfs does), even when none is.
//
// # Transport security
//
// As the reference deploys it: TLS 1.3 only, mutual certificates, and trust
// in the peers' own (self-signed) certificates rather than a CA ([Trust]:
// trusted certificates, checked with the host name on the client side, or
// pinned SHA-256 fingerprints). [ServerTLS] and [ClientTLS] build the two
// sides; [Dial] refuses plain http anywhere but on loopback ([CheckURL]).
//
// # The gateway's side
//
// [Forwarder] drains the gateway's readings journal from its own cursor to
// the OCS as device serviceinfo (module osp, one [ReadingDoc] per reading),
// and a durable outbox of native thing updates (module nativething,
// [NativeDoc]) and session failures (POST errors). It promises at least
// once with (gw, seq) to de-duplicate on, order per device, adaptive
// batches, exponential backoff with jitter, and a dead-letter list for
// POSTs the OCS refuses with a 4xx. [Puller] polls each device's owner
// serviceinfo and pre-serviceinfo: COMMAND scripts to live sessions with
// their outcome posted back, firmware images fetched in ranged GET values
// into the store, and per-device settings. docs/ocs-binding.md describes
// the mapping and the promises in full.
//
// # Storage
//
// The Server keeps everything in one bbolt file ([OpenStore]); device
// serviceinfo posted with POST msgs is kept one message per record, in the
// order received, so appending costs the batch and not the list.
package ocs
