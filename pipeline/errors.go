package pipeline

import "errors"

// ErrEpochStore says the current epoch's key could not be stored.
var ErrEpochStore = errors.New("epoch key not stored")

// ErrEpochsOff is returned by NewIngester when epochs are off for a chain
// whose records use them.
var ErrEpochsOff = errors.New("epochs are off")

// ErrHeadKeyMissing is returned by NewIngester when the chain key changed
// and the key that sealed the chain's head is not among PreviousKeys.
var ErrHeadKeyMissing = errors.New("the key that sealed the chain's head is missing")
