package inject

import "errors"

// ErrNotInjectable is wrapped by every error of Mutate: the pod asks for
// the sidecar but cannot have it. The rest of the message names each
// reason by its annotation or field, never a value of the pod's secrets.
var ErrNotInjectable = errors.New("cannot inject the audit sidecar")
