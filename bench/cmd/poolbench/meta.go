package main

import (
	"bufio"
	"os"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"strings"
	"time"

	"github.com/sqlitepool/sqlitepool/bench/internal/dataset"
)

// meta says what a run was: enough to rerun it and to judge it.
type meta struct {
	Date       string            `json:"date"`
	Command    string            `json:"command"`
	Go         string            `json:"go"`
	OS         string            `json:"os"`
	CPU        string            `json:"cpu"`
	NumCPU     int               `json:"num_cpu"`
	GOMAXPROCS int               `json:"gomaxprocs"`
	Engines    map[string]string `json:"engines"`
	Dataset    dataset.Size      `json:"dataset"`
	DBBytes    int64             `json:"db_bytes"`
	Rounds     int               `json:"rounds"`
	Warmup     string            `json:"warmup"`
	Duration   string            `json:"duration"`
	Conns      int               `json:"conns"`
	Elapsed    string            `json:"elapsed"`
}

func collectMeta(cfg *config, started time.Time, dbBytes int64, size dataset.Size) meta {
	return meta{
		Date:       started.UTC().Format(time.RFC3339),
		Command:    "go run ./cmd/poolbench " + strings.Join(os.Args[1:], " "),
		Go:         runtime.Version(),
		OS:         runtime.GOOS + "/" + runtime.GOARCH + " " + readTrim("/proc/sys/kernel/osrelease"),
		CPU:        cpuModel(),
		NumCPU:     runtime.NumCPU(),
		GOMAXPROCS: runtime.GOMAXPROCS(0),
		Engines:    engines(cfg.wazeroDir),
		Dataset:    size,
		DBBytes:    dbBytes,
		Rounds:     cfg.rounds,
		Warmup:     cfg.warmup.String(),
		Duration:   cfg.duration.String(),
		Conns:      cfg.conns,
		Elapsed:    time.Since(started).Round(time.Second).String(),
	}
}

// engines lists the versions this binary was built with, and the one the
// wazero module requires.
func engines(wazeroDir string) map[string]string {
	want := map[string]string{
		"github.com/ncruces/go-sqlite3": "ncruces/go-sqlite3",
		"zombiezen.com/go/sqlite":       "zombiezen.com/go/sqlite",
		"modernc.org/sqlite":            "modernc.org/sqlite (under zombiezen)",
	}
	out := map[string]string{}
	if bi, ok := debug.ReadBuildInfo(); ok {
		for _, d := range bi.Deps {
			if name, ok := want[d.Path]; ok {
				out[name] = d.Version
			}
		}
	}
	if f, err := os.Open(filepath.Join(wazeroDir, "go.mod")); err == nil {
		defer f.Close()
		sc := bufio.NewScanner(f)
		for sc.Scan() {
			fields := strings.Fields(sc.Text())
			if len(fields) >= 2 && fields[0] == "github.com/ncruces/go-sqlite3" {
				out["ncruces/go-sqlite3 (wazero child)"] = fields[1]
			}
		}
	}
	return out
}

func cpuModel() string {
	f, err := os.Open("/proc/cpuinfo")
	if err != nil {
		return "unknown"
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if k, v, ok := strings.Cut(sc.Text(), ":"); ok && strings.TrimSpace(k) == "model name" {
			return strings.TrimSpace(v)
		}
	}
	return "unknown"
}

func readTrim(path string) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return ""
	}
	return strings.TrimSpace(string(b))
}
