package catalog

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"

	jsonv2 "github.com/go-json-experiment/json"
	"github.com/google/uuid"
)

// idNamespace is the UUIDv5 namespace of workflow ids (compat §1.1).
var idNamespace = uuid.MustParse("6ba7b810-9dad-51d0-80b7-00c04fd430c8")

// cleanContent is the workflow's clean content exactly as Kubernaut computes
// it (compat §1.1): encoding/json of apiVersion, kind, metadata.name and spec
// in Kubernaut's struct order and omitempty rules. encoding/json, not a
// canonical form, because that is what Kubernaut hashes: map keys sorted,
// <, > and & escaped, free-form fields as given (compact, see normalizeJSON).
// Status is lifecycle, not content, so disabling a workflow keeps its id.
func cleanContent(w *Workflow) ([]byte, error) {
	return json.Marshal(cleanDoc{
		APIVersion: apiVersion,
		Kind:       kindWorkflow,
		Metadata:   cleanMeta{Name: w.WorkflowName},
		Spec:       w.WorkflowSpec,
	})
}

// contentHash is the SHA-256, in lower-case hex, of a workflow's content.
func contentHash(content []byte) string {
	sum := sha256.Sum256(content)
	return hex.EncodeToString(sum[:])
}

// workflowID is the UUIDv5 of the content hash string.
func workflowID(contentHash string) uuid.UUID {
	return uuid.NewSHA1(idNamespace, []byte(contentHash))
}

// ParseContent decodes a workflow stored as its content (Workflow.Content),
// to be given to New unchanged. New hashes those bytes as they are instead of
// re-encoding the workflow, which makes loading a snapshot from the catalog
// tables cheap; the id is then the hash of exactly the document served, so a
// stored document altered in place is served under a new id, never the old.
func ParseContent(content []byte, status Status) (Workflow, error) {
	var d cleanDoc
	if err := jsonv2.Unmarshal(content, &d); err != nil {
		return Workflow{}, err
	}
	if d.APIVersion != apiVersion || d.Kind != kindWorkflow {
		return Workflow{}, fmt.Errorf("content is a %s %s document, want %s %s", d.APIVersion, d.Kind, apiVersion, kindWorkflow)
	}
	return Workflow{WorkflowName: d.Metadata.Name, WorkflowSpec: d.Spec, Status: status, content: content}, nil
}

// normalizeJSON is a free-form value as the API server stores it and
// Kubernaut's encoding/json writes it: compact, object keys sorted, integers
// as integers and other numbers as float64. JSON null is no value (the API
// server drops it), returned as nil.
func normalizeJSON(raw json.RawMessage) (json.RawMessage, error) {
	if len(raw) == 0 {
		return nil, nil
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil, err
	}
	if v == nil {
		return nil, nil
	}
	return json.Marshal(numbersAsStored(v))
}

// numbersAsStored turns each json.Number into the int64 or float64 the API
// server would hold.
func numbersAsStored(v any) any {
	switch x := v.(type) {
	case json.Number:
		if i, err := x.Int64(); err == nil {
			return i
		}
		f, _ := x.Float64()
		return f
	case map[string]any:
		for k, e := range x {
			x[k] = numbersAsStored(e)
		}
	case []any:
		for i, e := range x {
			x[i] = numbersAsStored(e)
		}
	}
	return v
}
