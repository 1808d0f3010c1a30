// Package version reports what binary is running: its release version, the
// source commit it was built from, the Go toolchain and the build tags that
// changed what was compiled in.
package version

import (
	"fmt"
	"runtime"
	"runtime/debug"
	"slices"
	"strings"
)

// Version is the release version. Set at link time with
//
//	go build -ldflags "-X simclr/internal/version.Version=v0.1.0"
//
// and otherwise taken from the module version in the build info, when known.
var Version = ""

// Commit is the source revision. Set at link time with
//
//	-ldflags "-X simclr/internal/version.Commit=$(git rev-parse --short HEAD)"
//
// and otherwise taken from the VCS stamp in the build info, when present.
var Commit = ""

// Tags lists the build tags that add optional code to the binary. A file
// guarded by a build constraint registers its tag from an init function:
//
//	//go:build cuda
//	package version
//	func init() { Tags = append(Tags, "cuda") }
//
// Read it through [Get], which returns a sorted copy.
var Tags []string

// Info describes the running binary.
type Info struct {
	Version   string   // release version, "dev" when unknown
	Commit    string   // source revision, "unknown" when not recorded
	Modified  bool     // the working tree had uncommitted changes at build time
	GoVersion string   // toolchain that built the binary, e.g. "go1.26.0"
	Platform  string   // GOOS/GOARCH
	Tags      []string // build tags registered in Tags, sorted
}

// Get gathers the version information, preferring link-time values over the
// build info that the Go toolchain embeds.
func Get() Info {
	info := Info{
		Version:   Version,
		Commit:    Commit,
		GoVersion: runtime.Version(),
		Platform:  runtime.GOOS + "/" + runtime.GOARCH,
		Tags:      slices.Sorted(slices.Values(Tags)),
	}
	if bi, ok := debug.ReadBuildInfo(); ok {
		fillFromBuildInfo(&info, bi)
	}
	if info.Version == "" {
		info.Version = "dev"
	}
	if info.Commit == "" {
		info.Commit = "unknown"
	}
	return info
}

// fillFromBuildInfo fills the fields that were not set at link time from the
// toolchain's build info (module version and VCS settings).
func fillFromBuildInfo(info *Info, bi *debug.BuildInfo) {
	if info.Version == "" && bi.Main.Version != "" && bi.Main.Version != "(devel)" {
		info.Version = bi.Main.Version
	}
	if bi.GoVersion != "" {
		info.GoVersion = bi.GoVersion
	}
	if info.Commit != "" {
		return
	}
	for _, s := range bi.Settings {
		switch s.Key {
		case "vcs.revision":
			info.Commit = s.Value
			if len(info.Commit) > 12 {
				info.Commit = info.Commit[:12]
			}
		case "vcs.modified":
			info.Modified = s.Value == "true"
		}
	}
}

// String renders the information as the multi-line text printed by
// `simclr version`.
func (i Info) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "simclr %s\n", i.Version)
	commit := i.Commit
	if i.Modified {
		commit += " (modified)"
	}
	fmt.Fprintf(&b, "commit:   %s\n", commit)
	fmt.Fprintf(&b, "go:       %s\n", i.GoVersion)
	fmt.Fprintf(&b, "platform: %s\n", i.Platform)
	tags := "none"
	if len(i.Tags) > 0 {
		tags = strings.Join(i.Tags, ",")
	}
	fmt.Fprintf(&b, "tags:     %s\n", tags)
	return b.String()
}
