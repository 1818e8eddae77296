package emitter

import (
	"log/slog"

	"github.com/prometheus/client_golang/prometheus"

	"function/shared/config"
	"function/shared/eventauth"
)

// Tuning settings read by FromConfig.
const (
	SettingMode   = "AUDITFN_EMITTER_MODE"   // batch (default) or single
	SettingBuffer = "AUDITFN_EMITTER_BUFFER" // buffered events, default 10000
	SettingBatch  = "AUDITFN_EMITTER_BATCH"  // events per send, default 500
)

// FromConfig starts an emitter from a function's settings.
func FromConfig(c config.Config, reg prometheus.Registerer, log *slog.Logger) (*Emitter, error) {
	sink, err := c.Required(config.Sink)
	if err != nil {
		return nil, err
	}
	buffer, err := c.Int(SettingBuffer, 10000)
	if err != nil {
		return nil, err
	}
	batch, err := c.Int(SettingBatch, 500)
	if err != nil {
		return nil, err
	}
	keys, err := eventauth.FromConfig(c)
	if err != nil {
		return nil, err
	}
	return New(Options{Sink: sink, Mode: Mode(c[SettingMode]), BufferSize: buffer, BatchSize: batch, Keys: keys, Registerer: reg, Logger: log})
}
