package auditstore

// SetChunkEvents shrinks verification spans so small test chains cross
// several; it returns the undo.
func SetChunkEvents(n int) func() {
	old := chunkEvents
	chunkEvents = n
	return func() { chunkEvents = old }
}

// Where renders f's SQL conditions, as Search and Count use them.
func Where(f Filter) (string, []any) { return f.where() }
