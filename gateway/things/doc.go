// Package things is the gateway's hub: one model of every thing the gateway
// knows, whether an OSP device behind a serial line, a LoRa radio or UDP, or a
// native thing connected over WebSocket.
//
// The hub keeps, per thing, its description (properties with types and
// units, actions) and its latest state (property values, LastSeen, presence).
// Protocol packages feed it through [Hub.Upsert], [Hub.Update] and
// [Hub.SetPresent]; consumers (the JOSP endpoint, the steward, the upstream
// OCS forwarder) follow it through [Hub.Subscribe], and send commands back
// through [Hub.Perform], which routes each command to the [Owner] registered
// for the thing's [Kind].
//
// # Events and slow consumers
//
// Every subscription has a bounded queue. Publishing never blocks: when a
// subscriber's queue is full the hub drops that subscriber's OLDEST queued
// event, counts it, and sets [Event.Lost] on the next event the subscriber
// receives, so it knows to resynchronise with [Hub.List]. Each subscription
// has exactly one delivery goroutine, started by Subscribe and stopped (and
// waited for) when the subscription's context ends or the hub is closed.
//
// # Persistence
//
// When [Options.Persister] is set, the hub hands it every change: the whole
// state of the thing ([StateRecord] as JSON) through PutState, and each
// reading ([HistoryRecord] in its binary form) through AppendHistory. Calls
// are made in the order the changes were applied, outside the hub's read
// lock so readers are not held up by a slow disk.
//
// # Device profiles
//
// OSP devices send opaque DATA payloads tagged with a 2-byte DataType. A
// [Profile], loaded from a TOML file, declares how each DataType's payload
// decodes into named values and how named actions become COMMAND scripts:
//
//	name = "thermo"
//	[[datatype]]
//	id = 10
//	name = "climate"
//	  [[datatype.field]]
//	  name = "temperature"
//	  offset = 0
//	  type = "i16"      # u8 i8 u16 i16 u32 i32 f32
//	  order = "big"     # big (default) | little
//	  scale = 0.01
//	  unit = "Cel"
//	[[action]]
//	name = "setInterval"
//	script = "interval {seconds}"
//	params = ["seconds"]
//
// Bytes after the last declared field are ignored, so a device may append
// fields to a DataType without breaking older profiles. A payload that does
// not decode is never dropped: [Profile.DecodeOrRaw] keeps it as a Bytes
// property named "raw_<DataType>" flagged Raw.
//
// The package does no I/O besides reading profile files, and holds no global
// state: any number of hubs may live in one process.
package things
