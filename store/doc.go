// Package store is edgegate's database: one bbolt file holding the device
// registry, the readings journal, the latest state and history of every
// thing, consumer cursors, settings, firmware images and the services' own
// key/value namespaces. It knows nothing of protocols.
//
// # Durability contract
//
// Every write method (Append, PutDevice, PutState, SetCursor, PutFirmware,
// ...) returns nil only once its data is committed and fsynced: after a crash
// or power loss it is there. fsync is never turned off. The asynchronous
// write methods (AppendAsync, PutStateAsync, AppendHistoryAsync,
// SetCursorAsync) report the same through their done callback. In particular
// Append (and the done callback of AppendAsync) reports a sequence number
// only for a reading that is durable, so the gateway can acknowledge a
// sensor at that point and never lose an acknowledged reading. A write that
// returns (or reports) an error was not applied, except where its doc says
// otherwise (Append whose context ends after the reading was queued).
//
// # Group commit
//
// All writes after Open go through one committer goroutine fed by a
// channel. It takes the first queued write, drains everything else queued
// (up to Options.MaxBatch, optionally lingering Options.MaxDelay, or paced
// under load by Options.PaceBatch and PaceInterval) into ONE
// bbolt write transaction, commits it with ONE fsync, then wakes every
// writer in it: synchronous callers through a channel, callers of the
// asynchronous methods through their callback. Writes that queue while a
// commit's fsync runs form
// the next batch, so under load hundreds of readings share an fsync at no
// added latency. A write rejected by validation inside the transaction (say
// DeleteDevice of an unknown device) fails alone; a bbolt error fails the
// whole batch. Close stops accepting writes, lets the committer commit
// everything already queued, then closes the file. The committer also runs
// the periodic retention pass.
//
// # Asynchronous writes
//
// AppendAsync, PutStateAsync, AppendHistoryAsync and SetCursorAsync queue a
// write and return without waiting for its fsync, so one goroutine can feed
// a stream of readings and the data derived from them (state, history,
// consumer cursors) through the committer, sharing commits instead of
// waiting for an fsync per call. Each has the validation, semantics and
// stored layout of its synchronous twin, which is the same write plus a
// wait. Each calls its done callback (nil allowed) exactly once:
//
//   - before the method returns, on the caller's goroutine, when the write
//     is rejected up front: invalid input (ErrInvalid), or ErrClosed once
//     Close has begun;
//   - otherwise from the committer goroutine, after the write's transaction
//     is durable (nil: the data is visible to every reader by then) or has
//     failed (an error, as the synchronous twin would return).
//
// A Batch (NewBatch, then ApplyAsync) gathers many state, history and cursor
// writes into one queued write that commits in one transaction, in the order
// they were added: a consumer deriving data from a run of readings takes one
// queue slot per run instead of one per write.
//
// IMPORTANT: done runs on the goroutine that commits every write. It must
// not block, and must not call any DB write method, synchronous or
// asynchronous, nor Close: that would deadlock the committer. Hand the
// result to your own goroutine (a buffered channel, say) and return.
//
// Writes are committed in queue order and their callbacks run in that
// order, so a write queued before another (say an AppendHistoryAsync before
// a SetCursorAsync from the same goroutine) is never committed after it:
// when the later write's done fires, the earlier one is durable or has
// failed. Short of a bbolt error, which fails the whole batch, each write
// fails on its own: one rejected inside the transaction (a cursor past the
// journal) or refused by the size cap (ErrFull) does not stop the writes
// queued after it. The asynchronous methods block only
// while the queue (4×MaxBatch writes) is full.
//
// # Buckets and key layouts
//
// All integers are big-endian.
//
//	meta       "schema_version" -> uint32: the layout version (SchemaVersion)
//	devices    Type(2) Module(4)     -> JSON {"v":1, ...} (see Device; the key is base64)
//	journal    seq(8)                -> reading record v1 (see below); seq from NextSequence
//	state      thing id (string)     -> 0x01, at(8, Unix ns), value
//	history    thing id (string)     -> nested bucket, its sequence = entry count:
//	               sortable at(8) tiebreak(8) -> 0x01, value
//	           (sortable at = Unix ns with the sign bit flipped; tiebreak from
//	           the history bucket's sequence)
//	cursors    consumer (string)     -> seq(8): the last journal sequence it passed
//	settings   key (string)          -> value bytes
//	firmware   name (string)         -> nested bucket, one per image (schema 2):
//	               "info"            -> JSON {"v":1,"size":N,"chunkSize":N,"chunks":N,
//	                                    "sha256":"hex","added":RFC3339Nano}
//	               'c' chunk(2)      -> that chunk's bytes: chunkSize of them, the
//	                                    last chunk may be short
//	           (name: 1..20 bytes of printable ASCII 0x21..0x7e, OSP's
//	           FirmwareName; chunks are numbered from 0, at most 65536)
//	kv         namespace (string)    -> nested bucket, one per namespace (schema 3):
//	               key (string)      -> value bytes (see KV)
//
// A reading record (version 1) is
//
//	version(1)=0x01 time(8, Unix ns) type(2) module(4) sid(2) msgid(1)
//	datatype(2) flags(1) auth(1: bit0) rssi(4, float32) snr(4, float32)
//	linklen(1) link payloadlen(2) payload
//
// exactly 33+len(link)+len(payload) bytes; the decoder checks every length
// and returns *CorruptError (ErrCorrupt) rather than panicking. Sequence
// numbers start at 1, grow by one per reading and are never reused.
//
// # Schema versions
//
// Open reads meta's schema_version (absent means 0: a new file or one from
// before versioning) and runs the migrations from that version up to
// SchemaVersion, each step in its own transaction together with its version
// bump. A file whose version is newer than SchemaVersion is refused with a
// *SchemaTooNewError (ErrSchemaTooNew) and left untouched. Version 1 has
// every bucket above but firmware and kv; version 2 adds the firmware bucket,
// version 3 the kv bucket.
//
// # Retention
//
// The journal is one contiguous run of sequences; retention deletes a prefix.
// A record is deleted by age once every registered consumer's cursor is at
// or past its sequence AND it is older than Options.MaxAge (no consumers
// means every record counts as passed). Independently, when the live data
// plus the next batch would pass the budget derived from Options.MaxSize,
// the committer evicts the oldest records first, even unconsumed ones.
// Every deletion is counted (Stats) and each retention pass that deletes
// anything logs one aggregated line with the counts and the sequence range.
// bbolt v1.4.3 has no MaxSize option of its own, so the cap is enforced only
// by the store, from bbolt's high-water mark and free-page counts.
//
// # Caveats
//
// The database file holds device keys in clear; it is created (and at Open
// restricted to) mode 0600. Values returned by the store are copies and
// stay valid after the call. The done callbacks of the asynchronous methods
// run on the committer goroutine: they must not block or call back into the
// store's write methods (see Asynchronous writes). A firmware image is
// written whole, in one transaction, from the caller's buffer. On 32-bit ARM
// keep the file well under 1 GiB (bbolt doubles its mmap).
package store
