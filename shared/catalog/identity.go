package catalog

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"

	jsonv2 "github.com/go-json-experiment/json"

	"github.com/google/uuid"

	"function/shared/canonjson"
)

// idNamespace is the UUIDv5 namespace of workflow ids (SPEC §3.1).
var idNamespace = uuid.MustParse("6ba7b810-9dad-51d0-80b7-00c04fd430c8")

// canonicalContent is the workflow document its content hash covers, as
// RFC 8785 canonical JSON: the RemediationWorkflow YAML document converted to
// JSON, keeping only apiVersion, kind, metadata.name and spec. Status (the
// lifecycle) is not content, so disabling a workflow keeps its id. It is built
// from the decoded fields rather than from the YAML bytes, so comments, key
// order, quoting and an empty optional field written out or left out do not
// change it; any change of a value does.
func canonicalContent(w *Workflow) ([]byte, error) {
	b, err := json.Marshal(workflowDoc{
		typeMeta: typeMeta{APIVersion: apiVersion, Kind: kindWorkflow},
		Metadata: objectMeta{Name: w.WorkflowName},
		Spec:     w.WorkflowSpec,
	})
	if err != nil {
		return nil, err
	}
	return canonjson.Transform(b)
}

// contentHash is the SHA-256, in lower-case hex, of a workflow's content.
func contentHash(content []byte) string {
	sum := sha256.Sum256(content)
	return hex.EncodeToString(sum[:])
}

// ParseContent decodes a workflow stored as its content (Workflow.Content),
// to be given to New unchanged. New hashes those bytes as they are instead of
// re-encoding the workflow, which makes loading a snapshot from the catalog
// tables cheap; the id is then the hash of exactly the document served, so a
// stored document altered in place is served under a new id, never the old.
func ParseContent(content []byte, status Status) (Workflow, error) {
	var d workflowDoc
	if err := jsonv2.Unmarshal(content, &d); err != nil {
		return Workflow{}, err
	}
	if d.APIVersion != apiVersion || d.Kind != kindWorkflow {
		return Workflow{}, fmt.Errorf("content is a %s %s document, want %s %s", d.APIVersion, d.Kind, apiVersion, kindWorkflow)
	}
	return Workflow{WorkflowName: d.Metadata.Name, WorkflowSpec: d.Spec, Status: status, stored: content}, nil
}

// workflowID is the UUIDv5 of the content hash string.
func workflowID(contentHash string) uuid.UUID {
	return uuid.NewSHA1(idNamespace, []byte(contentHash))
}
