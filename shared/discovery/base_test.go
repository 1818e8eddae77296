package discovery_test

import (
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/stretchr/testify/assert"

	"function/shared/discovery"
)

func TestObserveLabelsNumericCode(t *testing.T) {
	b := discovery.NewBase("test")
	b.Observe(http.StatusOK, time.Now())
	b.Observe(http.StatusOK, time.Now())
	b.Observe(http.StatusNotFound, time.Now())
	rec := httptest.NewRecorder()
	promhttp.HandlerFor(b.Registry(), promhttp.HandlerOpts{}).ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/metrics", nil))
	assert.Contains(t, rec.Body.String(), `auditfn_discovery_requests_total{code="200"} 2`)
	assert.Contains(t, rec.Body.String(), `auditfn_discovery_requests_total{code="404"} 1`)
	assert.NotContains(t, rec.Body.String(), `code="OK"`)
}
