package query

import (
	"errors"
	"net/http"
	"net/url"

	"github.com/google/uuid"

	"function/shared/auditlog"
	"function/shared/problem"
)

// checkpointEvery is how long an event waits, at most, for the checkpoint
// that includes it (the collector's default interval, twice).
const checkpointEvery = "10"

// proof answers GET /api/v1/audit/proof?event_id=…[&source=…] with the
// event's C2SP tlog-proof (text/plain): its leaf index, the inclusion
// proof and the newest signed checkpoint.
func (f *Function) proof(w http.ResponseWriter, r *http.Request, st *running) int {
	id, source, errs := parseProof(r.URL.Query())
	if len(errs) > 0 {
		problem.Write(w, http.StatusBadRequest, "invalid query parameters", errs...)
		return http.StatusBadRequest
	}
	body, _, err := st.log.Proof(r.Context(), id, source)
	switch {
	case errors.Is(err, auditlog.ErrNoEvent):
		problem.Write(w, http.StatusNotFound, "no audit event with this event_id (and source, if given)")
		return http.StatusNotFound
	case errors.Is(err, auditlog.ErrAmbiguous):
		problem.Write(w, http.StatusBadRequest, "invalid query parameters",
			problem.FieldError{Field: "source", Message: "required: several senders stored an event with this event_id"})
		return http.StatusBadRequest
	case errors.Is(err, auditlog.ErrNotIncluded):
		w.Header().Set("Retry-After", checkpointEvery)
		problem.Write(w, http.StatusNotFound, "the event is stored but not yet in a signed checkpoint; retry in "+checkpointEvery+" s")
		return http.StatusNotFound
	case err != nil:
		f.Log.Error("proof", "err", err)
		problem.Write(w, http.StatusServiceUnavailable, "cannot build the proof now")
		return http.StatusServiceUnavailable
	}
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(body)
	return http.StatusOK
}

func parseProof(q url.Values) (uuid.UUID, string, []problem.FieldError) {
	p := &params{q: q}
	raw, source := p.get("event_id"), p.text("source")
	var id uuid.UUID
	switch {
	case len(p.errs) > 0:
	case raw == "":
		p.bad("event_id", "required: the id of the event to prove")
	default:
		var err error
		if id, err = uuid.Parse(raw); err != nil {
			p.bad("event_id", "must be a UUID")
		}
	}
	return id, source, p.errs
}
