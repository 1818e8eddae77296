package verify

// SetChunkEvents shrinks verification spans so small test chains cross
// several; it returns the undo.
func SetChunkEvents(n int) func() {
	old := chunkEvents
	chunkEvents = n
	return func() { chunkEvents = old }
}
