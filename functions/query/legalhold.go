package query

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	"function/archive"
	"function/shared/auditevent"
	"function/shared/httpjson"
	"function/shared/kubeapi"
	"function/shared/pgtext"
	"function/shared/problem"
)

// legalHoldsPath lists (GET) and places (POST) legal holds;
// legalHoldsPath/{correlation_id} releases one (DELETE).
const legalHoldsPath = "/api/v1/audit/legal-holds"

const (
	maxReasonLen = 1024
	maxHoldBody  = 16 << 10
)

type callerKey struct{}

func withCaller(ctx context.Context, who string) context.Context {
	return context.WithValue(ctx, callerKey{}, who)
}

func callerOf(ctx context.Context) string { s, _ := ctx.Value(callerKey{}).(string); return s }

// hold is one placement as the API answers it, with its release if any.
type hold struct {
	CorrelationID string     `json:"correlationId"`
	Active        bool       `json:"active"`
	Reason        string     `json:"reason"`
	PlacedBy      string     `json:"placedBy"`
	PlacedAt      time.Time  `json:"placedAt"`
	ReleaseReason string     `json:"releaseReason,omitempty"`
	ReleasedBy    string     `json:"releasedBy,omitempty"`
	ReleasedAt    *time.Time `json:"releasedAt,omitempty"`
}

func toHold(placed, released *archive.HoldRow) hold {
	h := hold{CorrelationID: placed.CorrelationID, Active: released == nil, Reason: placed.Reason,
		PlacedBy: placed.Actor, PlacedAt: placed.RecordedAt}
	if released != nil {
		h.ReleaseReason, h.ReleasedBy, h.ReleasedAt = released.Reason, released.Actor, &released.RecordedAt
	}
	return h
}

func (f *Function) listHolds(w http.ResponseWriter, r *http.Request, st *running) int {
	p := &params{q: r.URL.Query()}
	c := p.text("correlation_id")
	if len(p.errs) > 0 {
		problem.Write(w, http.StatusBadRequest, "invalid query parameters", p.errs...)
		return http.StatusBadRequest
	}
	rows, err := st.holds.List(r.Context(), c)
	if err != nil {
		f.Log.Error("list legal holds", "err", err)
		problem.Write(w, http.StatusServiceUnavailable, "cannot read legal holds now")
		return http.StatusServiceUnavailable
	}
	out := struct {
		Holds []hold `json:"holds"`
	}{Holds: make([]hold, len(rows))}
	for i, h := range rows {
		out.Holds[i] = toHold(h[0], h[1])
	}
	httpjson.Write(w, http.StatusOK, out)
	return http.StatusOK
}

// holdBody is the JSON body of POST (both fields) and DELETE (reason only:
// the correlation id is in the path).
type holdBody struct {
	CorrelationID string `json:"correlation_id"`
	Reason        string `json:"reason"`
}

// readHoldBody decodes and checks a hold body; withID says whether it
// carries the correlation id.
func readHoldBody(w http.ResponseWriter, r *http.Request, withID bool) (holdBody, []problem.FieldError) {
	var b holdBody
	raw, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxHoldBody))
	if err != nil {
		return b, []problem.FieldError{{Field: "body", Message: "must be a JSON object of at most 16 KiB"}}
	}
	if field, found := pgtext.BadJSON("", raw); found {
		return b, []problem.FieldError{{Field: strings.TrimPrefix(field, "."), Message: pgtext.Message}}
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&b); err != nil || dec.More() {
		msg := "must be one JSON object with correlation_id and reason"
		if !withID {
			msg = "must be one JSON object with reason"
		}
		return b, []problem.FieldError{{Field: "body", Message: msg}}
	}
	var errs []problem.FieldError
	if withID {
		if b.CorrelationID == "" || len(b.CorrelationID) > maxValueLen {
			errs = append(errs, problem.FieldError{Field: "correlation_id", Message: "is required, 1..253 characters"})
		}
	} else if b.CorrelationID != "" {
		errs = append(errs, problem.FieldError{Field: "correlation_id", Message: "goes in the path, not the body"})
	}
	if strings.TrimSpace(b.Reason) == "" || len(b.Reason) > maxReasonLen {
		errs = append(errs, problem.FieldError{Field: "reason", Message: "is required, 1..1024 characters, not only spaces"})
	}
	return b, errs
}

func (f *Function) placeHold(w http.ResponseWriter, r *http.Request, st *running) int {
	b, errs := readHoldBody(w, r, true)
	return f.changeHold(w, r, st, "create", b, errs)
}

func (f *Function) releaseHold(w http.ResponseWriter, r *http.Request, st *running) int {
	c, err := url.PathUnescape(strings.TrimPrefix(r.URL.EscapedPath(), legalHoldsPath+"/"))
	var errs []problem.FieldError
	switch {
	case err != nil || !pgtext.Valid(c):
		errs = append(errs, problem.FieldError{Field: "correlation_id", Message: pgtext.Message})
	case c == "" || len(c) > maxValueLen:
		errs = append(errs, problem.FieldError{Field: "correlation_id", Message: "is required, 1..253 characters"})
	}
	b, bodyErrs := readHoldBody(w, r, false)
	b.CorrelationID = c
	return f.changeHold(w, r, st, "delete", b, append(errs, bodyErrs...))
}

// changeHold places (verb create) or releases (delete) the hold, then
// emits the audit events of every hold row not in the log yet, this one
// included, each with the id stored with its row: a retry, or a request
// after a crash, sends a lost event again, and the collector keeps one.
// A repeated request (same caller, action and reason as the hold's newest
// row) answers that row again, so a client may retry.
func (f *Function) changeHold(w http.ResponseWriter, r *http.Request, st *running, verb string, b holdBody, errs []problem.FieldError) int {
	ctx := r.Context()
	switch err := st.auth.mayHold(ctx, kubeapi.Bearer(r), verb); {
	case errors.Is(err, errHoldForbidden):
		problem.Write(w, http.StatusForbidden, err.Error())
		return http.StatusForbidden
	case err != nil:
		f.Log.Error("authorize legal hold", "err", err)
		problem.Write(w, http.StatusServiceUnavailable, "cannot check credentials now")
		return http.StatusServiceUnavailable
	}
	if len(errs) > 0 {
		problem.Write(w, http.StatusBadRequest, "invalid legal hold request", errs...)
		return http.StatusBadRequest
	}
	if st.emit == nil {
		problem.Write(w, http.StatusServiceUnavailable, "legal holds need K_SINK: their placing and releasing are audit events")
		return http.StatusServiceUnavailable
	}
	who := callerOf(ctx)
	change, action, status := st.holds.Place, archive.HoldPlaced, http.StatusCreated
	if verb == "delete" {
		change, action, status = st.holds.Release, archive.HoldReleased, http.StatusOK
	}
	row, err := change(ctx, b.CorrelationID, b.Reason, who)
	var state *archive.ErrHoldState
	switch {
	case errors.As(err, &state) && state.Newest != nil && state.Newest.Action == action &&
		state.Newest.Reason == b.Reason && state.Newest.Actor == who:
		row, status = *state.Newest, http.StatusOK // a retry
	case errors.As(err, &state) && state.Newest == nil:
		problem.Write(w, http.StatusNotFound, state.Error())
		return http.StatusNotFound
	case errors.As(err, &state):
		problem.Write(w, http.StatusConflict, state.Error())
		return http.StatusConflict
	case err != nil:
		f.Log.Error("legal hold", "action", action, "correlation_id", b.CorrelationID, "err", err)
		problem.Write(w, http.StatusServiceUnavailable, "cannot change the legal hold now; nothing was recorded, retry")
		return http.StatusServiceUnavailable
	}
	f.Log.Info("legal hold", "action", action, "correlation_id", row.CorrelationID, "by", who)
	if err := f.emitUnlogged(ctx, st); err != nil {
		f.Log.Error("emit legal hold events", "err", err)
	}
	out := struct {
		CorrelationID string    `json:"correlationId"`
		Action        string    `json:"action"`
		Reason        string    `json:"reason"`
		Actor         string    `json:"actor"`
		At            time.Time `json:"at"`
		EventID       string    `json:"eventId"`
	}{row.CorrelationID, row.Action, row.Reason, row.Actor, row.RecordedAt, row.EventID.String()}
	httpjson.Write(w, status, out)
	return status
}

// emitUnlogged emits the event of every hold row whose event is not in the
// log: after each change, and at start.
func (f *Function) emitUnlogged(ctx context.Context, st *running) error {
	rows, err := st.holds.Unlogged(ctx)
	if err != nil {
		return err
	}
	for _, row := range rows {
		ev, err := holdEvent(row)
		if err != nil {
			return err
		}
		st.emit.Emit(ev)
	}
	return nil
}

// holdEvent is the audit event of a hold row, the same every time.
func holdEvent(row archive.HoldRow) (auditevent.Event, error) {
	h := auditevent.LegalHold{CorrelationID: row.CorrelationID, Reason: row.Reason}
	var p auditevent.Payload = auditevent.LegalHoldPlaced{LegalHold: h}
	if row.Action == archive.HoldReleased {
		p = auditevent.LegalHoldReleased{LegalHold: h}
	}
	kind := "user"
	if strings.HasPrefix(row.Actor, "system:serviceaccount:") {
		kind = "service"
	}
	return auditevent.NewWithID(row.EventID, "query", p, auditevent.Actor{Type: kind, ID: row.Actor}, row.RecordedAt)
}
