package query

import (
	"errors"
	"net/http"

	"function/shared/bundle"
	"function/shared/problem"
	"function/shared/tlog"
)

// export answers GET /api/v1/audit/export with the bundle (JSON Lines) of
// the events the filters select (those of /api/v1/audit/events:
// correlation_id, since, until, event_type, …), each with its inclusion
// proof in the newest checkpoint; redact (JSON Pointers) names values to
// show only by their salted commitments. It streams: a failure midway leaves the
// bundle without its end line, which verify-bundle reports as truncated.
func (f *Function) export(w http.ResponseWriter, r *http.Request, st *running) int {
	filter, errs := parseFilter(r.URL.Query(), f.now())
	red, err := bundle.ParseRedaction(r.URL.Query()["redact"])
	if err != nil {
		errs = append(errs, problem.FieldError{Field: "redact", Message: err.Error()})
	}
	if len(errs) > 0 {
		problem.Write(w, http.StatusBadRequest, "invalid query parameters", errs...)
		return http.StatusBadRequest
	}
	sw := &startedWriter{ResponseWriter: w}
	err = st.log.Export(r.Context(), filter, red, r.URL.Query(), sw)
	switch {
	case err == nil:
		return http.StatusOK
	case errors.Is(err, tlog.ErrNoCheckpoint) && !sw.started:
		w.Header().Set("Retry-After", checkpointEvery)
		problem.Write(w, http.StatusNotFound, "no signed checkpoint yet; retry in "+checkpointEvery+" s")
		return http.StatusNotFound
	case !sw.started:
		f.Log.Error("export", "err", err)
		problem.Write(w, http.StatusServiceUnavailable, "cannot export now")
		return http.StatusServiceUnavailable
	default:
		f.Log.Error("export cut short", "err", err)
		return http.StatusOK
	}
}

// startedWriter sets the bundle's content type on the first write and
// remembers that the answer has begun.
type startedWriter struct {
	http.ResponseWriter
	started bool
}

func (s *startedWriter) Write(b []byte) (int, error) {
	if !s.started {
		s.started = true
		s.Header().Set("Content-Type", "application/x-ndjson")
		s.WriteHeader(http.StatusOK)
	}
	n, err := s.ResponseWriter.Write(b)
	if f, ok := s.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
	return n, err
}
