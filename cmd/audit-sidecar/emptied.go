package main

import (
	"context"
	"errors"
	"fmt"
	"time"

	"go.uber.org/zap"

	"github.com/fips-agents/audit-sidecar/config"
	"github.com/fips-agents/audit-sidecar/sink"
	"github.com/fips-agents/audit-sidecar/spool"
)

// emptiedSink is a sink found holding nothing of the chain although the
// spool says records were delivered to it.
type emptiedSink struct {
	index int            // in the sinks list
	gap   map[string]any // the detail of its gap record
	err   error          // what the deliverer reports
}

// emptiedCheckTimeout bounds the reads of emptiedSinks, all sinks together.
const emptiedCheckTimeout = 5 * time.Second

// emptiedSinks finds the sinks that hold no record of the chain although
// the spool's cursor says records were delivered to them: a SQLite file
// deleted while the sidecar was stopped (the open created a new one), a
// store emptied or swapped. Those records are gone from the spool too, so
// each such sink gets a gap record at start saying so, and the loss is
// reported like one found while running. A sink that cannot be read
// within emptiedCheckTimeout is not checked (a warning says so): a
// database out of reach must not hold up the start, the spool taking the
// records meanwhile. It must run before the spool registers the sinks: a sink
// new to the spool gets a cursor then, with nothing delivered.
func emptiedSinks(cfg *config.Config, sp *spool.Spool, sinks []namedSink, log *zap.Logger) []emptiedSink {
	ctx, cancel := context.WithTimeout(context.Background(), emptiedCheckTimeout)
	defer cancel()
	var out []emptiedSink
	for i, s := range sinks {
		through, ok := sp.Cursor(s.name)
		tr, canTell := s.sink.(sink.TailReader)
		if !ok || through == 0 || !canTell {
			continue
		}
		_, found, err := tr.ChainTail(ctx, cfg.Chain.ID)
		if err != nil {
			log.Warn("cannot read whether a sink holds the records delivered to it", zap.String("sink", s.name), zap.Error(err))
			continue
		}
		if found {
			continue
		}
		reason := fmt.Sprintf("sink %s was found empty at start though the spool says records through seq %d had been delivered to it", s.name, through)
		log.Error("sink found empty at start though records were delivered to it; they are lost from it",
			zap.String("sink", s.name), zap.Uint64("delivered_through", through))
		out = append(out, emptiedSink{
			index: i,
			gap:   map[string]any{"reason": reason, "sink": s.name, "delivered_through": through},
			err:   errors.New(reason),
		})
	}
	return out
}
