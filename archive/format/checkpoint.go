package format

// Checkpoint is a signed statement that batch Seq of the ledger had hash
// BatchHash at SignedAt. Stored under Object Lock, it pins the chain's head:
// deleting the newest batches and their events from PostgreSQL, which the
// chain alone cannot show, no longer matches the newest checkpoint.
type Checkpoint struct {
	Seq       int64  `json:"seq"`
	BatchHash string `json:"batchHash"`
	SignedAt  string `json:"signedAt"`
	KeyID     string `json:"keyId"`
}
