package catalog

import (
	"bytes"
	"cmp"
	"fmt"
	"maps"
	"slices"
	"strings"

	"github.com/google/uuid"

	"function/shared/parallel"
)

// Catalog is an immutable snapshot of action types and workflows, safe for
// concurrent use. Only Active workflows that are the latest version of their
// workflowName are discoverable (listed and returned by Get).
type Catalog struct {
	actionTypes []ActionType // sorted by name
	workflows   []Workflow   // every workflow, as given to New
	byAction    map[string][]*Workflow
	byID        map[uuid.UUID]*Workflow
}

// New validates action types and workflows and builds a snapshot. It fills
// each workflow's ContentHash, WorkflowID and Detected (any given values are
// replaced)
// and defaults an empty Status to Active. The catalog takes the workflows
// slice over rather than copying it (a copy faulted in half a megabyte on a
// scale-from-zero start): callers must not use it afterwards. Every error is
// a *LoadError.
//
// The latest version of a workflowName is the highest semantic version among
// all its versions, whatever their status: disabling the latest version hides
// the workflow rather than bringing back an older version.
func New(actionTypes []ActionType, workflows []Workflow) (*Catalog, error) {
	c := &Catalog{
		actionTypes: slices.Clone(actionTypes),
		workflows:   workflows,
		byAction:    map[string][]*Workflow{},
		byID:        map[uuid.UUID]*Workflow{},
	}
	known := map[string]*ActionType{}
	for i := range c.actionTypes {
		a := &c.actionTypes[i]
		if field, err := checkActionType(a); err != nil {
			return nil, a.src.errorf(a.Name, field, "%v", err)
		}
		if prev := known[a.Name]; prev != nil {
			return nil, a.src.errorf(a.Name, "spec.name", "action type defined twice%s", also(prev.src))
		}
		known[a.Name] = a
	}
	slices.SortFunc(c.actionTypes, func(a, b ActionType) int { return strings.Compare(a.Name, b.Name) })

	if err := prepareAll(c.workflows, known); err != nil {
		return nil, err
	}
	versions := map[string][]*Workflow{}
	for i := range c.workflows {
		w := &c.workflows[i]
		versions[w.WorkflowName] = append(versions[w.WorkflowName], w)
	}
	for _, name := range slices.Sorted(maps.Keys(versions)) { // sorted: the same error every time
		vs := versions[name]
		slices.SortFunc(vs, func(a, b *Workflow) int { return b.semver.Compare(a.semver) })
		for i := 1; i < len(vs); i++ {
			if vs[i].semver.Equal(vs[i-1].semver) {
				w := vs[i]
				return nil, w.src.errorf(w.WorkflowName, "spec.version", "version %s defined twice%s", w.Version, also(vs[i-1].src))
			}
		}
		if latest := vs[0]; latest.Status == StatusActive {
			c.byAction[latest.ActionType] = append(c.byAction[latest.ActionType], latest)
			c.byID[latest.WorkflowID] = latest
		}
	}
	return c, nil
}

// prepareAll prepares every workflow, spread over the CPUs: hashing each
// workflow's content is most of loading a snapshot, and a function that
// scales from zero is not ready before it is done. The error reported is the
// first workflow's, in order, whatever finished first.
func prepareAll(workflows []Workflow, known map[string]*ActionType) error {
	return parallel.Each(len(workflows), func(i int) error { return prepare(&workflows[i], known) })
}

// prepare checks w and computes its identity.
func prepare(w *Workflow, known map[string]*ActionType) error {
	if w.Status == "" {
		w.Status = StatusActive
	}
	if field, err := checkWorkflow(w, known); err != nil {
		return w.src.errorf(w.WorkflowName, field, "%v", err)
	}
	d, field, err := readDetected(w.DetectedLabels)
	if err != nil {
		return w.src.errorf(w.WorkflowName, strings.TrimSuffix("spec.detectedLabels."+field, "."), "%v", err)
	}
	w.Detected = d
	w.patterns = &patterns{}
	if w.content == nil {
		if w.content, err = cleanContent(w); err != nil {
			return w.src.errorf(w.WorkflowName, "spec", "%v", err)
		}
	}
	w.ContentHash = contentHash(w.content)
	w.WorkflowID = workflowID(w.ContentHash)
	return checkClaim(w)
}

// checkClaim refuses a document whose status names another identity than
// the one computed: served under either id, it would be two workflows.
func checkClaim(w *Workflow) error {
	if c := w.claimed.contentHash; c != "" && c != w.ContentHash {
		return w.src.errorf(w.WorkflowName, "status.contentHash",
			"the document says %s, its content hashes to %s", c, w.ContentHash)
	}
	if c := w.claimed.workflowID; c != "" && !strings.EqualFold(c, w.WorkflowID.String()) {
		return w.src.errorf(w.WorkflowName, "status.workflowId",
			"the document says %s, its content gives %s", c, w.WorkflowID)
	}
	return nil
}

// also points at an earlier definition loaded from a file.
func also(s source) string {
	if s.file == "" {
		return ""
	}
	return fmt.Sprintf(" (also in %s, document %d)", s.file, s.doc)
}

// ActionTypes returns every action type, sorted by name.
func (c *Catalog) ActionTypes() []ActionType { return slices.Clone(c.actionTypes) }

// Workflows returns every workflow given to New, discoverable or not, in the
// order given.
func (c *Catalog) Workflows() []Workflow { return slices.Clone(c.workflows) }

// ActionSummary is one entry of discovery step 1.
type ActionSummary struct {
	ActionType    string      `json:"actionType"`
	Description   Description `json:"description"`
	WorkflowCount int         `json:"workflowCount"` // discoverable workflows matching the filter
}

// ListActions returns the page [offset, offset+limit) of the action types
// having at least one discoverable workflow that matches f, sorted by name,
// and how many there are in all.
func (c *Catalog) ListActions(f Filter, offset, limit int) (page []ActionSummary, total int) {
	all := []ActionSummary{}
	for i := range c.actionTypes {
		a := &c.actionTypes[i]
		n := 0
		for _, w := range c.byAction[a.Name] {
			if Matches(w, f) {
				n++
			}
		}
		if n > 0 {
			all = append(all, ActionSummary{ActionType: a.Name, Description: a.Description, WorkflowCount: n})
		}
	}
	return paginate(all, offset, limit), len(all)
}

// Ranked is a workflow of discovery step 2 with its score and its 1-based
// rank in the whole ranked list (not just the page).
type Ranked struct {
	Workflow *Workflow
	Score    float64
	Rank     int
}

// ListWorkflows returns the page [offset, offset+limit) of the discoverable
// workflows of actionType that match f, ranked by Score descending then
// workflowId ascending, and how many there are in all. An unknown action type
// has none.
func (c *Catalog) ListWorkflows(actionType string, f Filter, offset, limit int) (page []Ranked, total int) {
	all := []Ranked{}
	for _, w := range c.byAction[actionType] {
		if Matches(w, f) {
			all = append(all, Ranked{Workflow: w, Score: Score(w, f)})
		}
	}
	slices.SortFunc(all, func(a, b Ranked) int {
		if d := cmp.Compare(b.Score, a.Score); d != 0 {
			return d
		}
		// Byte order of a UUID is the order of its lower-case hex string.
		return bytes.Compare(a.Workflow.WorkflowID[:], b.Workflow.WorkflowID[:])
	})
	for i := range all {
		all[i].Rank = i + 1
	}
	return paginate(all, offset, limit), len(all)
}

// Get returns the discoverable workflow with the given id. The security gate
// of step 3 is Matches(w, f) on the result.
func (c *Catalog) Get(id uuid.UUID) (*Workflow, bool) {
	w, ok := c.byID[id]
	return w, ok
}

// paginate returns all[offset:offset+limit], clamped to all; a negative
// offset counts as 0 and a negative limit as 0.
func paginate[T any](all []T, offset, limit int) []T {
	offset = min(max(offset, 0), len(all))
	return all[offset : offset+min(max(limit, 0), len(all)-offset)]
}
