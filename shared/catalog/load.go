package catalog

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"strconv"
	"strings"

	jsonv2 "github.com/go-json-experiment/json"
	"github.com/go-json-experiment/json/jsontext"
	"sigs.k8s.io/yaml"

	"function/shared/pgtext"
)

// LoadError is an invalid catalog document.
type LoadError struct {
	File  string // file name in the catalog directory; "" for values given to New
	Doc   int    // 1-based index among the file's non-empty documents
	Name  string // the document's name, when known
	Field string // path of the bad field, e.g. "spec.labels.severity[1]"; "" when the document as a whole is bad
	Err   error
}

func (e *LoadError) Error() string {
	where := e.Name
	if e.File != "" {
		where = fmt.Sprintf("%s: document %d", e.File, e.Doc)
		if e.Name != "" {
			where += " (" + e.Name + ")"
		}
	}
	var parts []string
	for _, p := range []string{where, e.Field, e.Err.Error()} {
		if p != "" {
			parts = append(parts, p)
		}
	}
	return strings.Join(parts, ": ")
}

func (e *LoadError) Unwrap() error { return e.Err }

// source is where a document came from, for error messages.
type source struct {
	file string
	doc  int
}

func (s source) errorf(name, field, format string, args ...any) *LoadError {
	return &LoadError{File: s.file, Doc: s.doc, Name: name, Field: field, Err: fmt.Errorf(format, args...)}
}

// LoadDir loads every *.yaml file at the top of fsys (sub-directories are not
// read). A file holds one or more documents separated by lines that are
// exactly "---"; empty documents are skipped. Decoding is strict: unknown and
// duplicate fields are errors. A bad document is reported as a *LoadError.
func LoadDir(fsys fs.FS) (*Catalog, error) {
	names, err := fs.Glob(fsys, "*.yaml")
	if err != nil {
		return nil, err
	}
	if len(names) == 0 {
		return nil, errors.New("catalog: no *.yaml files")
	}
	var actionTypes []ActionType
	var workflows []Workflow
	for _, name := range names {
		data, err := fs.ReadFile(fsys, name)
		if err != nil {
			return nil, err
		}
		n := 0
		for _, doc := range splitDocuments(data) {
			j, err := yaml.YAMLToJSONStrict(doc)
			if err != nil {
				return nil, source{name, n + 1}.errorf("", "", "%v", err)
			}
			if string(j) == "null" { // only blank lines and comments
				continue
			}
			n++
			src := source{name, n}
			a, w, err := decode(j, src)
			switch {
			case err != nil:
				return nil, err
			case a != nil:
				actionTypes = append(actionTypes, *a)
			default:
				workflows = append(workflows, *w)
			}
		}
	}
	return New(actionTypes, workflows)
}

// splitDocuments splits data on lines that are exactly "---" (CRLF allowed).
func splitDocuments(data []byte) [][]byte {
	var docs [][]byte
	start, pos := 0, 0
	for line := range bytes.Lines(data) {
		if string(bytes.TrimRight(line, "\r\n")) == "---" {
			docs = append(docs, data[start:pos])
			start = pos + len(line)
		}
		pos += len(line)
	}
	return append(docs, data[start:])
}

// Decode reads one document, given as JSON (a file's document or a resource
// from the API server), into an action type or a workflow. Free-form fields
// are normalised as the API server stores them.
func Decode(j []byte) (*ActionType, *Workflow, error) { return decode(j, source{}) }

func decode(j []byte, src source) (*ActionType, *Workflow, error) {
	// First, so that invalid UTF-8 is named by its field, not reported as
	// a syntax error; a NUL would make the document unstorable (jsonb,
	// text), a 5xx and a retry for ever instead of a refusal.
	if field, found := pgtext.BadJSON("", j); found {
		return nil, nil, src.errorf("", field, "%s", pgtext.Message)
	}
	var tm typeMeta
	if err := jsonv2.Unmarshal(j, &tm); err != nil {
		return nil, nil, decodeError(src, err)
	}
	if tm.APIVersion != apiVersion {
		return nil, nil, src.errorf("", "apiVersion", "%q, want %q", tm.APIVersion, apiVersion)
	}
	switch tm.Kind {
	case kindActionType:
		var d actionTypeDoc
		if err := decodeStrict(j, &d); err != nil {
			return nil, nil, decodeError(src, err)
		}
		if d.Metadata.name() == "" {
			return nil, nil, src.errorf(d.Spec.Name, "metadata.name", "required")
		}
		d.Spec.src = src
		return &d.Spec, nil, nil
	case kindWorkflow:
		var d workflowDoc
		if err := decodeStrict(j, &d); err != nil {
			return nil, nil, decodeError(src, err)
		}
		w := &Workflow{WorkflowName: d.Metadata.name(), WorkflowSpec: d.Spec, src: src}
		if field, err := normalizeSpec(&w.WorkflowSpec); err != nil {
			return nil, nil, src.errorf(w.WorkflowName, field, "%v", err)
		}
		if field, err := checkPatterns(&w.WorkflowSpec); err != nil {
			return nil, nil, src.errorf(w.WorkflowName, field, "%v", err)
		}
		if field, err := requiredPresent(j); err != nil {
			return nil, nil, src.errorf(w.WorkflowName, field, "%v", err)
		}
		if s := d.Status; s != nil {
			w.Status = s.CatalogStatus
			w.claimed = claimedIdentity{workflowID: s.WorkflowID, contentHash: s.ContentHash}
		}
		return nil, w, nil
	}
	return nil, nil, src.errorf("", "kind", "%q, want %s or %s", tm.Kind, kindActionType, kindWorkflow)
}

func decodeStrict(j []byte, v any) error {
	return jsonv2.Unmarshal(j, v, jsonv2.RejectUnknownMembers(true))
}

// normalizeSpec normalises the free-form fields and returns the path of the
// first that is not valid JSON of its kind.
func normalizeSpec(s *WorkflowSpec) (string, error) {
	var err error
	if s.DetectedLabels, err = normalizeJSON(s.DetectedLabels); err != nil {
		return "spec.detectedLabels", err
	}
	if len(s.DetectedLabels) > 0 && s.DetectedLabels[0] != '{' {
		return "spec.detectedLabels", errors.New("must be an object")
	}
	if s.Execution.EngineConfig, err = normalizeJSON(s.Execution.EngineConfig); err != nil {
		return "spec.execution.engineConfig", err
	}
	for _, list := range []struct {
		field  string
		params []Parameter
	}{{"spec.parameters", s.Parameters}, {"spec.rollbackParameters", s.RollbackParameters}} {
		for i := range list.params {
			if list.params[i].Default, err = normalizeJSON(list.params[i].Default); err != nil {
				return fmt.Sprintf("%s[%d].default", list.field, i), err
			}
		}
	}
	return "", nil
}

// requiredPresent checks the fields Kubernaut's CRD requires to be written
// even where their zero value is allowed: a parameter's required and
// description.
func requiredPresent(j []byte) (string, error) {
	var d struct {
		Spec struct {
			Parameters         []map[string]jsontext.Value `json:"parameters"`
			RollbackParameters []map[string]jsontext.Value `json:"rollbackParameters"`
		} `json:"spec"`
	}
	if err := jsonv2.Unmarshal(j, &d); err != nil {
		return "", err // decodeStrict took the same bytes: not reached
	}
	for _, list := range []struct {
		field  string
		params []map[string]jsontext.Value
	}{{"spec.parameters", d.Spec.Parameters}, {"spec.rollbackParameters", d.Spec.RollbackParameters}} {
		for i, p := range list.params {
			for _, key := range []string{"name", "type", "required", "description"} {
				if _, ok := p[key]; !ok {
					return fmt.Sprintf("%s[%d].%s", list.field, i, key), errRequired
				}
			}
		}
	}
	return "", nil
}

// decodeError names the field of a decoding error: its JSON pointer as a
// path like spec.labels.severity[1].
func decodeError(src source, err error) *LoadError {
	var se *jsonv2.SemanticError
	if !errors.As(err, &se) {
		return src.errorf("", "", "%v", err)
	}
	field := fieldPath(se.JSONPointer)
	switch {
	case se.Err == jsonv2.ErrUnknownName:
		return src.errorf("", field, "unknown field")
	case field == "" && se.JSONKind != '{':
		return src.errorf("", "", "document is not a mapping (got %s)", kindName(se.JSONKind))
	case se.GoType != nil:
		return src.errorf("", field, "got %s, want %s", kindName(se.JSONKind), se.GoType)
	}
	return src.errorf("", field, "%v", se.Err)
}

// fieldPath turns /spec/labels/severity/1 into spec.labels.severity[1].
func fieldPath(p jsontext.Pointer) string {
	var b strings.Builder
	for tok := range p.Tokens() {
		if _, err := strconv.Atoi(tok); err == nil && b.Len() > 0 {
			fmt.Fprintf(&b, "[%s]", tok)
			continue
		}
		if b.Len() > 0 {
			b.WriteByte('.')
		}
		b.WriteString(tok)
	}
	return b.String()
}

func kindName(k jsontext.Kind) string {
	switch k {
	case '"':
		return "string"
	case '0':
		return "number"
	case 't', 'f':
		return "boolean"
	case 'n':
		return "null"
	case '{':
		return "object"
	case '[':
		return "array"
	}
	return "invalid JSON"
}
