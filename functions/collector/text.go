package collector

import (
	"bytes"
	"io"
	"net/http"
	"slices"
	"strings"

	"github.com/cloudevents/sdk-go/v2/binding/format"

	"function/shared/pgtext"
	"function/shared/problem"
)

// badText names the first attribute or data string of a structured or
// binary mode request that PostgreSQL could not store. It looks before the
// SDK decodes, which would quietly turn invalid UTF-8 into U+FFFD (in source,
// into percent escapes) and store what was not sent. A batch is checked by
// readBatch; binary-mode data, as every payload, by the event's validation.
func badText(r *http.Request) (*problem.FieldError, error) {
	if format.Lookup(r.Header.Get("Content-Type")) == nil {
		for key, values := range r.Header {
			name, attr := strings.CutPrefix(strings.ToLower(key), "ce-")
			if attr && slices.ContainsFunc(values, func(v string) bool { return !pgtext.Valid(v) }) {
				return &problem.FieldError{Field: name, Message: pgtext.Message}, nil
			}
		}
		return nil, nil
	}
	body, err := io.ReadAll(r.Body)
	if err != nil {
		return nil, err
	}
	r.Body = io.NopCloser(bytes.NewReader(body))
	if field, found := pgtext.BadJSON("", body); found {
		return &problem.FieldError{Field: field, Message: pgtext.Message}, nil
	}
	return nil, nil
}
