package catalog

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"strings"

	"sigs.k8s.io/yaml"
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
// duplicate fields are errors, and every parameter schema is compiled. A bad document is reported as a *LoadError.
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
	c, err := New(actionTypes, workflows)
	if err != nil {
		return nil, err
	}
	// Documents come in here: check every parameter schema before anything
	// can store them.
	if err := c.compileSchemas(); err != nil {
		return nil, err
	}
	return c, nil
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

// decode reads one document, given as JSON, into an action type or a workflow.
func decode(j []byte, src source) (*ActionType, *Workflow, error) {
	var tm typeMeta
	if err := json.Unmarshal(j, &tm); err != nil {
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
		if d.Metadata.Name == "" {
			return nil, nil, src.errorf(d.Spec.Name, "metadata.name", "required")
		}
		d.Spec.src = src
		return &d.Spec, nil, nil
	case kindWorkflow:
		var d workflowDoc
		if err := decodeStrict(j, &d); err != nil {
			return nil, nil, decodeError(src, err)
		}
		w := &Workflow{WorkflowName: d.Metadata.Name, WorkflowSpec: d.Spec, src: src}
		if d.Status != nil {
			w.Status = d.Status.CatalogStatus
		}
		return nil, w, nil
	}
	return nil, nil, src.errorf("", "kind", "%q, want %s or %s", tm.Kind, kindActionType, kindWorkflow)
}

func decodeStrict(j []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(j))
	dec.DisallowUnknownFields()
	return dec.Decode(v)
}

// decodeError names the field of a type mismatch; an unknown field's name is
// in encoding/json's message.
func decodeError(src source, err error) *LoadError {
	if te, ok := errors.AsType[*json.UnmarshalTypeError](err); ok {
		if te.Field == "" {
			return src.errorf("", "", "document is not a mapping (got %s)", te.Value)
		}
		return src.errorf("", te.Field, "got %s, want %s", te.Value, te.Type)
	}
	return src.errorf("", "", "%v", err)
}
