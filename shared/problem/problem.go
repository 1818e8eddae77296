// Package problem writes RFC 7807 application/problem+json error answers
// that name each bad field, in the shape Kubernaut's generated clients
// decode (kubernaut-compat §3).
package problem

import (
	"encoding/json"
	"net/http"
)

// FieldError names one bad input field.
type FieldError struct {
	Field   string `json:"field"`
	Message string `json:"message"`
}

// Problem is an RFC 7807 body with both field lists: SPEC §3's errors and
// Kubernaut's field_errors (field → message).
type Problem struct {
	Type        string            `json:"type"`
	Title       string            `json:"title"`
	Status      int               `json:"status"`
	Detail      string            `json:"detail,omitempty"`
	Errors      []FieldError      `json:"errors,omitempty"`
	FieldErrors map[string]string `json:"field_errors,omitempty"`
}

// TypePrefix begins every problem type: Kubernaut's
// https://kubernaut.ai/problems/<kind>.
const TypePrefix = "https://kubernaut.ai/problems/"

// kinds are the problem kinds by status; any other status is "error".
var kinds = map[int]string{
	http.StatusBadRequest:            "validation-error",
	http.StatusUnauthorized:          "unauthorized",
	http.StatusForbidden:             "forbidden",
	http.StatusNotFound:              "not-found",
	http.StatusMethodNotAllowed:      "method-not-allowed",
	http.StatusRequestEntityTooLarge: "payload-too-large",
	http.StatusBadGateway:            "bad-gateway",
	http.StatusServiceUnavailable:    "service-unavailable",
}

// Write answers status with a problem body.
func Write(w http.ResponseWriter, status int, detail string, errs ...FieldError) {
	kind, ok := kinds[status]
	if !ok {
		kind = "error"
	}
	p := Problem{
		Type:   TypePrefix + kind,
		Title:  http.StatusText(status),
		Status: status,
		Detail: detail,
		Errors: errs,
	}
	if len(errs) > 0 {
		p.FieldErrors = map[string]string{}
		for _, e := range errs {
			if prev, ok := p.FieldErrors[e.Field]; ok {
				p.FieldErrors[e.Field] = prev + "; " + e.Message
			} else {
				p.FieldErrors[e.Field] = e.Message
			}
		}
	}
	w.Header().Set("Content-Type", "application/problem+json")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(p)
}
