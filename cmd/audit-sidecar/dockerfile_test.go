package main

import (
	"os"
	"regexp"
	"slices"
	"strings"
	"testing"
)

// The image carries the OCI labels, the revision reaches the binary, the
// base images are pinned by digest or the Dockerfile says why not yet, and
// the build context leaves out the history and the demo keys.
func TestDockerfile_LabelsPinsAndContext(t *testing.T) {
	df, err := os.ReadFile("../../Dockerfile")
	if err != nil {
		t.Fatal(err)
	}
	text := string(df)
	for _, label := range []string{"source", "revision", "licenses", "title", "description"} {
		if !strings.Contains(text, "org.opencontainers.image."+label+"=") {
			t.Errorf("no org.opencontainers.image.%s label", label)
		}
	}
	for _, want := range []string{"ARG REVISION", `org.opencontainers.image.revision="${REVISION}"`, "-X main.revision=${REVISION}", `org.opencontainers.image.licenses="Apache-2.0"`} {
		if !strings.Contains(text, want) {
			t.Errorf("Dockerfile lacks %q", want)
		}
	}
	for _, m := range regexp.MustCompile(`(?m)^FROM (\S+)`).FindAllStringSubmatch(text, -1) {
		if !strings.Contains(m[1], "@sha256:") && !strings.Contains(text, "pins both by digest") {
			t.Errorf("base image %s is not pinned by digest, and the Dockerfile does not say why", m[1])
		}
	}
	di, err := os.ReadFile("../../.dockerignore")
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(string(di), "\n")
	for _, want := range []string{".git", "examples/"} {
		if !slices.Contains(lines, want) {
			t.Errorf(".dockerignore does not leave out %s", want)
		}
	}
	lic, err := os.ReadFile("../../LICENSE")
	if err != nil || !strings.Contains(string(lic), "Apache License\n                           Version 2.0, January 2004") ||
		!strings.Contains(string(lic), "END OF TERMS AND CONDITIONS") {
		t.Errorf("LICENSE is not the Apache License 2.0 text (%v)", err)
	}
}
