package catalog

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"

	"github.com/google/uuid"

	"function/shared/canonjson"
)

// idNamespace is the UUIDv5 namespace of workflow ids (SPEC §3.1).
var idNamespace = uuid.MustParse("6ba7b810-9dad-51d0-80b7-00c04fd430c8")

// contentHash is the SHA-256, in lower-case hex, of the RFC 8785 canonical
// JSON of the workflow document.
//
// The workflow document is the RemediationWorkflow YAML document converted
// to JSON, keeping only apiVersion, kind, metadata.name and spec: status (the
// lifecycle) is not content, so disabling a workflow keeps its id. It is
// built from the decoded fields rather than from the YAML bytes, so comments,
// key order, quoting and an empty optional field written out or left out do
// not change it; any change of a value does.
func contentHash(w *Workflow) (string, error) {
	b, err := json.Marshal(workflowDoc{
		typeMeta: typeMeta{APIVersion: apiVersion, Kind: kindWorkflow},
		Metadata: objectMeta{Name: w.WorkflowName},
		Spec:     w.WorkflowSpec,
	})
	if err != nil {
		return "", err
	}
	canonical, err := canonjson.Transform(b)
	if err != nil {
		return "", err
	}
	sum := sha256.Sum256(canonical)
	return hex.EncodeToString(sum[:]), nil
}

// workflowID is the UUIDv5 of the content hash string.
func workflowID(contentHash string) uuid.UUID {
	return uuid.NewSHA1(idNamespace, []byte(contentHash))
}
