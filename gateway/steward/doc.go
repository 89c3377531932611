// Package steward is the gateway's Native Thing steward: third-party
// programmable things find it by multicast DNS, pair with it during an
// installer's pairing window, and are then managed through the things hub
// like every other thing.
//
// One engine speaks both generations of the protocol, on one TLS listener:
//
//   - the Native Thing draft on wss://host:port/native: /api/v1/pair with a
//     uuid, answered with a passCode; /api/v1/hello with uuid and passcode;
//     prototypes with properties; registrations keyed by UDN with
//     prototype; observe and perform entries naming their thing with thing.
//   - the Simple Thing Protocol, what the original steward shipped, on
//     wss://host:port/manage: /api/v1/thing/pair/<name> answered twice (an
//     intermediate reply, then TOTP parameters and a client ID);
//     /api/v1/thing/hello/<id> with a TOTP response accepted in the
//     previous, current or next 30-second step; devicetype; thingID
//     entries.
//
// Both path families are accepted on both endpoints; a session speaks the
// generation of its hello. requestIDs may be strings or numbers and are
// answered as strings; every success carries both "status":"success" and
// "success":true; field-name variants (passCode/passcode,
// pairingCode/paringCode, devicetype/prototype) are accepted.
//
// The frame rules are the original steward's: a binary frame, invalid
// JSON, or a missing requestID closes the socket without a reply, and so
// does a message without a path unless it answers one of the steward's
// requests; a permanent error is sent, then the socket is closed. Each is
// counted in [Stats].
//
// Native things are hub things of kind native with ID "native:<UDN>": the
// UDN is their permanent identity across sessions, their thingIDs live as
// long as a session. Prototype properties are typed by the steward's
// Dictionary (true: string; a list: keywords; a unit word: a number in that
// unit; an object: nested properties, flattened as "a.b"); their perform
// names are hub actions ([Steward.Perform] is the hub's Owner for
// things.KindNative); each reported occurrence of an observed event counts
// in the hub property "event.<name>". A thing silent for 60 seconds is
// marked absent.
//
// Pairings, prototypes and things are kept in the store ([Store], the
// "steward" key/value namespace); TOTP keys and passcodes (kept as a hash)
// never leave it but in the pair reply, are compared in constant time, and
// are never logged.
package steward
