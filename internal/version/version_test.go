package version

import (
	"runtime/debug"
	"strings"
	"testing"
)

func TestGetFallsBackToPlaceholders(t *testing.T) {
	oldV, oldC, oldT := Version, Commit, Tags
	t.Cleanup(func() { Version, Commit, Tags = oldV, oldC, oldT })
	Version, Commit, Tags = "", "", nil

	info := Get()
	if info.Version == "" || info.Commit == "" {
		t.Fatalf("Get() left empty fields: %+v", info)
	}
	if !strings.HasPrefix(info.GoVersion, "go") {
		t.Errorf("GoVersion = %q, want a go toolchain version", info.GoVersion)
	}
}

func TestLinkTimeValuesWin(t *testing.T) {
	oldV, oldC, oldT := Version, Commit, Tags
	t.Cleanup(func() { Version, Commit, Tags = oldV, oldC, oldT })
	Version, Commit, Tags = "v1.2.3", "abc1234", []string{"zeta", "cuda"}

	info := Get()
	if info.Version != "v1.2.3" || info.Commit != "abc1234" {
		t.Fatalf("Get() = %+v, want link-time version and commit", info)
	}
	if got := strings.Join(info.Tags, ","); got != "cuda,zeta" {
		t.Errorf("Tags = %q, want sorted cuda,zeta", got)
	}
	Tags[0] = "mutated"
	if info.Tags[0] != "cuda" {
		t.Error("Get() must return a copy of Tags")
	}
	s := info.String()
	for _, want := range []string{"simclr v1.2.3", "commit:   abc1234", "tags:     cuda,zeta"} {
		if !strings.Contains(s, want) {
			t.Errorf("String() = %q, missing %q", s, want)
		}
	}
}

func TestFillFromBuildInfo(t *testing.T) {
	tests := []struct {
		name         string
		start        Info
		bi           debug.BuildInfo
		wantVersion  string
		wantCommit   string
		wantModified bool
	}{
		{
			name: "vcs stamp",
			bi: debug.BuildInfo{Main: debug.Module{Version: "(devel)"}, Settings: []debug.BuildSetting{
				{Key: "vcs.revision", Value: "0123456789abcdef0123"}, {Key: "vcs.modified", Value: "true"}}},
			wantCommit: "0123456789ab", wantModified: true,
		},
		{
			name:        "module version",
			bi:          debug.BuildInfo{Main: debug.Module{Version: "v0.4.0"}},
			wantVersion: "v0.4.0",
		},
		{
			name:  "ldflags keep priority",
			start: Info{Version: "v9", Commit: "feed"},
			bi: debug.BuildInfo{Main: debug.Module{Version: "v0.4.0"}, Settings: []debug.BuildSetting{
				{Key: "vcs.revision", Value: "0123456789abcdef"}, {Key: "vcs.modified", Value: "true"}}},
			wantVersion: "v9", wantCommit: "feed",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			info := tt.start
			fillFromBuildInfo(&info, &tt.bi)
			if info.Version != tt.wantVersion || info.Commit != tt.wantCommit || info.Modified != tt.wantModified {
				t.Errorf("got version %q commit %q modified %v; want %q %q %v",
					info.Version, info.Commit, info.Modified, tt.wantVersion, tt.wantCommit, tt.wantModified)
			}
		})
	}
}
