package collector_test

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/minio/minio-go/v7"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"function/archive"
	"function/archive/archivetest"
	"function/archive/format"
	"function/functions/collector"
	"function/test/testenv"
)

const pingBody = `{"specversion":"1.0","id":"p-1","source":"/apis/v1/namespaces/auditfn/pingsources/archive","type":"dev.knative.sources.ping"}`

// startArchivingCollector starts a collector with every archive setting. The
// events of these tests are 100 days old, so with the production retention
// minimum (90 days) their objects get the 1-day lock floor.
func startArchivingCollector(t *testing.T, settings map[string]string) string {
	t.Helper()
	f := collector.New()
	require.NoError(t, f.Start(context.Background(), settings))
	t.Cleanup(func() { _ = f.Stop(context.Background()) })
	srv := httptest.NewServer(http.HandlerFunc(f.Handle))
	t.Cleanup(srv.Close)
	return srv.URL
}

func ping(t *testing.T, url string) (int, []byte) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, url, strings.NewReader(pingBody))
	req.Header.Set("Content-Type", "application/cloudevents+json")
	return post(t, req)
}

func TestAPingCompactsColdDaysAndIsAnsweredWhenTheRunIsDone(t *testing.T) {
	e := archivetest.New(t)
	d := archivetest.DaysAgo(100)
	e.Seed(t, d, 30)
	url := startArchivingCollector(t, e.Settings())

	status, body := ping(t, url)
	require.Equal(t, http.StatusOK, status, string(body))
	var rep archive.Report
	require.NoError(t, json.Unmarshal(body, &rep))
	assert.Equal(t, archive.Report{Days: []archive.DayReport{{Date: d.Format(time.DateOnly), Parts: []int{1}, Rows: 30, Dropped: true}}}, rep)
	assert.False(t, e.PartitionExists(t, d), "answered after the drop")
	assert.Len(t, e.ArchivedRecords(t, d), 30)

	status, body = ping(t, url)
	require.Equal(t, http.StatusOK, status, string(body))
	assert.JSONEq(t, `{"skipped":false,"more":false,"days":[]}`, string(body), "nothing left to do")
}

func TestAFailedCompactionIsA5xxSoThePingIsRetried(t *testing.T) {
	e := archivetest.New(t)
	d := archivetest.DaysAgo(100)
	e.Seed(t, d, 10)
	junk := []byte("not an archive")
	_, err := e.Bucket.Client(t).PutObject(context.Background(), e.Bucket.Name, format.PartKey(d, 1), bytes.NewReader(junk), int64(len(junk)), minio.PutObjectOptions{})
	require.NoError(t, err)
	url := startArchivingCollector(t, e.Settings())

	status, body := ping(t, url)
	assert.Equal(t, http.StatusServiceUnavailable, status, string(body))
	assert.Contains(t, string(body), "verify")
	assert.True(t, e.PartitionExists(t, d), "nothing dropped")
	assert.Equal(t, int64(10), e.Count(t, d))
}

func TestStartRefusesAnArchiveItCannotUse(t *testing.T) {
	e := archivetest.New(t)
	plain := testenv.NewPlainBucket(t)
	settings := e.Settings()
	settings["AUDITFN_S3_BUCKET"] = plain.Name
	err := collector.New().Start(context.Background(), settings)
	require.Error(t, err)
	assert.Contains(t, err.Error(), plain.Name, "names the bucket without Object Lock")

	settings = e.Settings()
	delete(settings, "AUDITFN_S3_BUCKET")
	err = collector.New().Start(context.Background(), settings)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "AUDITFN_S3_BUCKET")

	settings = e.Settings()
	settings["AUDITFN_RETENTION_DAYS"] = "30"
	err = collector.New().Start(context.Background(), settings)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "AUDITFN_RETENTION_DAYS")
}
