package sink

import (
	"context"
	"errors"
	"testing"
)

func TestNull(t *testing.T) {
	var s Sink = Null{}
	writeOK(t, s, sealAll(chainRecords("c1", 1, 3)))
	writeOK(t, s, nil)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := s.Write(ctx, nil); !errors.Is(err, context.Canceled) {
		t.Errorf("Write with canceled ctx = %v, want context.Canceled", err)
	}
	if err := s.Close(); err != nil {
		t.Errorf("Close = %v", err)
	}
}
