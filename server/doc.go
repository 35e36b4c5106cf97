// Package server runs the sidecar's HTTP listeners so that no client of
// them can slow ingestion or starve it of file descriptors.
//
// A [Listener] serves one http.Handler on one address with:
//
//   - every phase of a connection bounded: headers (ReadHeader), the whole
//     request (Read), the response (Write), and the wait between requests
//     on a kept-alive connection (Idle); a TLS handshake is bounded by the
//     shortest of them (net/http); request headers are capped at
//     MaxHeaderBytes;
//   - a cap on open connections (MaxConns). At the cap, a new connection
//     takes the place of the oldest one that has not sent a complete
//     request (nothing yet, part of its headers, or kept alive between
//     requests: http.Server's StateNew and StateIdle), which is closed, so
//     that silent clients cannot keep a probe out; when every connection
//     has a request under way, Accept holds the new one and waits for one
//     to close, and those behind it stay in the kernel's accept queue
//     (bounded by net.core.somaxconn, then refused), holding no
//     descriptor of the process;
//   - connections kept alive at most MaxConnAge (10 min): the response to
//     a later request says Connection: close;
//   - OPTIONS * answered by the handler (DisableGeneralOptionsHandler);
//   - optionally TLS from files ([TLSFiles]), reloaded when they change.
//
// [ConnBudget] sizes the caps below the process's open-file limit, keeping
// [FDReserve] descriptors for the pipeline (the tailer's files and
// listings, the spool, sinks, the epoch key and checkpoint files). Go
// itself raises the soft RLIMIT_NOFILE to the hard limit at start (package
// syscall, since Go 1.19); the budget is taken from the limit in force.
//
// # TLS
//
// The certificate, key and optional client CA are read at start (an error
// names the file's key) and then re-checked at every handshake: when the
// identity of one of the files (device, inode, size, modification and
// change times, links followed) differs from the one loaded, all are read
// again. This follows Kubernetes Secret volumes, where the kubelet swaps a
// ..data symbolic link and the file names never change, as well as files
// rewritten in place. A set that does not load (a certificate rewritten
// before its key) is logged once and the previous one is served until the
// files change again. Key material never appears in a log line or an error.
//
// TLS 1.2 is the minimum. With a client CA, every client must present a
// certificate that it signed (tls.RequireAndVerifyClientCert), and session
// tickets are off so that a resumed session never skips that check after
// the CA changes. The client certificate is checked again at every
// request, against the client CA in force and the time of the request: a
// kept-alive connection whose certificate has expired, or whose CA was
// rotated out, is answered 403 with Connection: close. The files are
// read only if they are regular files of at most 4 MiB (a device such as
// /dev/zero, a FIFO or a folder fails the start at once). In Go's FIPS 140-3 mode (crypto/fips140.Enabled) crypto/tls
// itself negotiates only approved parameters: TLS 1.2 and 1.3; AES-GCM
// suites (and AES-CBC-SHA256 ones for TLS 1.2) with ECDHE; the groups
// P-256, P-384, P-521 and the ML-KEM hybrids; certificates with RSA of
// 2048 bits or more, ECDSA on P-256, P-384 or P-521, or Ed25519. The
// package refuses at start, in that mode, a certificate whose key no
// handshake could use. The e2e tests check what the built binary accepts
// and refuses in both modes.
package server
