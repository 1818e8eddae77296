package blockclear

import (
	"encoding/json"
	"fmt"
	"net/http"
	"reflect"
	"strings"
	"time"
	"unicode/utf8"

	admissionv1 "k8s.io/api/admission/v1"
	authnv1 "k8s.io/api/authentication/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	"function/shared/pgtext"
)

// MinReasonLength and MaxReasonLength bound the clear reason in characters.
// The maximum is the CRD's: the API server validates after this mutating
// webhook, and a longer reason would be audited but never stored.
const (
	MinReasonLength = 10
	MaxReasonLength = 1024
)

// decision is the webhook's answer to one AdmissionRequest: allowed or not,
// and the JSON patch that stamps a clearance. It emits nothing: the API
// server may still refuse the update after this webhook (a later admission
// plugin, the schema, a conflict), so the audit event is emitted only once
// the clearance is seen persisted (catchUp, reconcile).
type decision struct {
	allowed bool
	message string
	code    int32
	patch   []patchOp
	cleared *BlockClearance // the clearance stamped, with patch
	wfe     types.UID       // on this object
}

type patchOp struct {
	Op    string `json:"op"`
	Path  string `json:"path"`
	Value any    `json:"value,omitempty"`
}

func deny(code int32, format string, args ...any) decision {
	return decision{code: code, message: fmt.Sprintf(format, args...)}
}

var allow = decision{allowed: true}

// admit applies the BR-WE-013 rules to an UPDATE of a WorkflowExecution (or
// its status). Identity comes only from req.UserInfo, as the API server
// verified it; the clearance time from now.
func admit(req *admissionv1.AdmissionRequest, now time.Time) decision {
	if req.Kind.Kind != "WorkflowExecution" || req.Operation != admissionv1.Update {
		return allow
	}
	var obj, old WorkflowExecution
	if err := json.Unmarshal(req.Object.Raw, &obj); err != nil {
		return deny(http.StatusBadRequest, "request.object is not a WorkflowExecution: %v", err)
	}
	if err := json.Unmarshal(req.OldObject.Raw, &old); err != nil {
		return deny(http.StatusBadRequest, "request.oldObject is not a WorkflowExecution: %v", err)
	}
	if v, ok := obj.Annotations[LegacyAnnotation]; ok && v != old.Annotations[LegacyAnnotation] {
		return deny(http.StatusForbidden, "the %s annotation is not accepted: it cannot prove who cleared the block. "+
			"Set status.blockClearance.clearReason instead: kubectl patch workflowexecution %s -n %s --subresource=status "+
			"--type=merge -p '{\"status\":{\"blockClearance\":{\"clearReason\":\"<why it is safe to run again>\"}}}'",
			LegacyAnnotation, obj.Name, obj.Namespace)
	}
	prev, next := old.Status.BlockClearance, obj.Status.BlockClearance
	switch {
	case prev != nil && prev.ClearedBy != "":
		if !reflect.DeepEqual(prev, next) {
			return deny(http.StatusForbidden, "the block was already cleared by %s at %s; a clearance cannot be changed or removed",
				prev.ClearedBy, prev.ClearedAt.UTC().Format(time.RFC3339))
		}
		return allow
	case next == nil || reflect.DeepEqual(prev, next):
		// The update leaves blockClearance as it was (or drops one no
		// webhook stamped). Any other blockClearance, even {} or one of
		// empty strings, is a clearance to Kubernaut's controller, which
		// reads a non-nil blockClearance as cleared: it is checked below.
		return allow
	}

	user := req.UserInfo
	if user.Username == "" {
		return deny(http.StatusForbidden, "the API server supplied no user identity; a block can only be cleared by an authenticated user")
	}
	if old.Status.Phase != PhaseFailed {
		return deny(http.StatusForbidden, "only a Failed WorkflowExecution can have its block cleared (phase is %q)", old.Status.Phase)
	}
	reason := strings.TrimSpace(next.ClearReason)
	switch n := utf8.RuneCountInString(reason); {
	case n < MinReasonLength:
		return deny(http.StatusBadRequest, "status.blockClearance.clearReason must say why it is safe to run again (at least %d characters)", MinReasonLength)
	case n > MaxReasonLength:
		return deny(http.StatusBadRequest, "status.blockClearance.clearReason is longer than %d characters", MaxReasonLength)
	}
	method := next.ClearMethod
	switch method {
	case "":
		method = MethodStatusField
	case MethodStatusField, MethodAnnotation, MethodAPIEndpoint:
	default:
		return deny(http.StatusBadRequest, "status.blockClearance.clearMethod must be one of %s, %s, %s", MethodStatusField, MethodAnnotation, MethodAPIEndpoint)
	}

	if obj.UID == "" {
		return deny(http.StatusBadRequest, "request.object has no metadata.uid")
	}
	// The clearance is audited from the object and the identity: text that
	// PostgreSQL cannot store would lose its audit event.
	if field, found := pgtext.BadJSON("request.object", req.Object.Raw); found {
		return deny(http.StatusBadRequest, "%s %s", field, pgtext.Message)
	}
	if field := badUserText(user); field != "" {
		return deny(http.StatusBadRequest, "%s %s", field, pgtext.Message)
	}
	// Whatever the request said about who and when is replaced by what the
	// API server verified and by our clock.
	cleared := &BlockClearance{
		ClearedAt:       metav1.NewTime(now.UTC().Truncate(time.Second)), // as the API server stores it
		ClearedBy:       user.Username,
		ClearedByUID:    user.UID,
		ClearedByGroups: append([]string{}, user.Groups...),
		ClearReason:     reason,
		ClearMethod:     method,
	}
	obj.Status.BlockClearance = cleared
	if _, err := auditEvent(&obj); err != nil {
		// Stamped, it could not be audited when seen persisted.
		return deny(http.StatusBadRequest, "the clearance cannot be audited: %v", err)
	}
	return decision{allowed: true, patch: []patchOp{{Op: "add", Path: "/status/blockClearance", Value: cleared}},
		cleared: cleared, wfe: obj.UID}
}

// badUserText names the first field of the identity that PostgreSQL cannot
// store, or is "": a NUL, since review refuses invalid UTF-8 before decoding.
func badUserText(u authnv1.UserInfo) string {
	switch {
	case !pgtext.Valid(u.Username):
		return "request.userInfo.username"
	case !pgtext.Valid(u.UID):
		return "request.userInfo.uid"
	}
	for i, g := range u.Groups {
		if !pgtext.Valid(g) {
			return fmt.Sprintf("request.userInfo.groups[%d]", i)
		}
	}
	return ""
}

// respond turns a decision into the AdmissionReview answer.
func respond(uid types.UID, d decision) *admissionv1.AdmissionReview {
	resp := &admissionv1.AdmissionResponse{UID: uid, Allowed: d.allowed}
	if !d.allowed {
		resp.Result = &metav1.Status{Status: metav1.StatusFailure, Code: d.code, Message: d.message,
			Reason: metav1.StatusReason(http.StatusText(int(d.code)))}
	}
	if len(d.patch) > 0 {
		patch, _ := json.Marshal(d.patch) // plain structs: cannot fail
		pt := admissionv1.PatchTypeJSONPatch
		resp.Patch, resp.PatchType = patch, &pt
	}
	return &admissionv1.AdmissionReview{
		TypeMeta: metav1.TypeMeta{APIVersion: "admission.k8s.io/v1", Kind: "AdmissionReview"},
		Response: resp,
	}
}
