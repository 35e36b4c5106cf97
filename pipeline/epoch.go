package pipeline

import (
	"go.uber.org/zap"

	"github.com/fips-agents/audit-sidecar/record"
)

// rotateKey seals a key_rotation record when the chain's head was sealed
// with another key than cfg.Key (NewIngester checked that PreviousKeys has
// it). The rotation is sealed with the old key, at the spool's epoch,
// which vouches for the new one; everything after is sealed with the new
// key, from KeyEpoch.
func (in *Ingester) rotateKey() {
	st := in.cfg.Spool.State()
	old := st.HeadKid
	if old == "" || old == in.cfg.Key.ID {
		return
	}
	in.sealer.Rekey(in.cfg.PreviousKeys[old])
	in.sealer.SetEpoch(st.Epoch)
	in.addOwn(record.ActionKeyRotation, map[string]any{"old_kid": old, "new_kid": in.cfg.Key.ID})
	in.sealer.Rekey(in.cfg.Key)
	in.sealer.SetEpoch(in.cfg.KeyEpoch)
	in.log.Info("key rotated", zap.String("old_kid", old), zap.String("new_kid", in.cfg.Key.ID))
}

// sealEpoch closes the current epoch with a seal record, the last sealed
// with its key, and ratchets to the next epoch's key (the old one is
// erased); the new key is stored once the seal is committed.
func (in *Ingester) sealEpoch() {
	e := in.sealer.Epoch()
	in.seal(in.ownRecord(record.ActionSeal, map[string]any{"epoch": e}))
	in.sealer.Ratchet()
	in.storeEpoch = true
	in.cfg.Metrics.Epoch.Set(float64(e + 1))
}

// keepEpochKey stores the current epoch's key after a commit that holds
// the seal before it (or the start), so that a restart needs no key file.
// A failure is retried at the next commit.
func (in *Ingester) keepEpochKey() {
	if !in.storeEpoch {
		return
	}
	if in.cfg.EpochStore == nil {
		in.storeEpoch = false
		return
	}
	if err := in.cfg.EpochStore(in.sealer.Key(), in.sealer.Epoch()); err != nil {
		in.log.Error("cannot store the epoch key; retried at the next commit", zap.Error(err))
		return
	}
	in.storeEpoch = false
}
