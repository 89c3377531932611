package store

// Test-only access to internals, for the external store_test package.

// SetBeforeCommit installs a hook the committer calls with the first write of
// a batch in hand, before it drains the queue.
func SetBeforeCommit(o *Options, f func()) { o.beforeCommit = f }

// Closing reports whether Close has begun on db.
func Closing(db *DB) bool { return db.isClosed.Load() }

// EncodeReading and DecodeReading expose the journal record codec.
var (
	EncodeReading = encodeReading
	DecodeReading = decodeReading
)

// Limits returns the byte budgets derived from Options.MaxSize.
func Limits(db *DB) (hard, high, low int64) {
	return db.limits.hard, db.limits.high, db.limits.low
}

// ComputeLimits exposes computeLimits.
func ComputeLimits(maxSize int64, pageSize, allocSize int) (hard, high, low int64) {
	l := computeLimits(maxSize, pageSize, allocSize)
	return l.hard, l.high, l.low
}

// MigrationCount is the length of the migration table.
const MigrationCount = len(migrations)

// MigrationFrom returns the source version of migration i.
func MigrationFrom(i int) uint32 { return migrations[i].from }
