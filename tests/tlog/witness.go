// Command witness is a transparency-log witness per c2sp.org/tlog-witness with Ed25519
// cosignatures (c2sp.org/tlog-cosignature, cosignature/v1), written for the tests on Go's
// own sumdb note and tlog packages: it cosigns a checkpoint only if the log's key signed
// it and it is consistent with the last one it cosigned for that log.
//
// It prints "listening ADDRESS" once it accepts requests, and keeps its state in memory.
package main

import (
	"bytes"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"

	"golang.org/x/mod/sumdb/note"
	"golang.org/x/mod/sumdb/tlog"
)

var (
	listen = flag.String("listen", "127.0.0.1:0", "the address to listen on")
	name   = flag.String("name", "witness.test/w1", "the witness's key name")
	seed   = flag.String("seed", "", "the witness's Ed25519 seed, 64 hex digits")
	logKey = flag.String("log-vkey", "", "the verifier key of the log it witnesses")
)

type state struct {
	sync.Mutex
	size map[string]int64
	hash map[string]tlog.Hash
}

func main() {
	flag.Parse()
	raw, err := hex.DecodeString(*seed)
	if err != nil || len(raw) != ed25519.SeedSize {
		fmt.Fprintln(os.Stderr, "witness: -seed must be 64 hex digits")
		os.Exit(2)
	}
	key := ed25519.NewKeyFromSeed(raw)
	logVerifier, err := note.NewVerifier(*logKey)
	if err != nil {
		fmt.Fprintln(os.Stderr, "witness: -log-vkey:", err)
		os.Exit(2)
	}
	public := append([]byte{0x04}, key.Public().(ed25519.PublicKey)...)
	id := sha256.Sum256(append([]byte(*name+"\n"), public...))
	seen := &state{size: map[string]int64{}, hash: map[string]tlog.Hash{}}

	http.HandleFunc("/add-checkpoint", func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodPost {
			http.Error(w, "POST only", http.StatusMethodNotAllowed)
			return
		}
		body, err := io.ReadAll(io.LimitReader(r.Body, 1<<20))
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		head, checkpoint, found := bytes.Cut(body, []byte("\n\n"))
		if !found {
			http.Error(w, "no empty line before the checkpoint", http.StatusBadRequest)
			return
		}
		lines := strings.Split(string(head), "\n")
		if !strings.HasPrefix(lines[0], "old ") {
			http.Error(w, "no old size line", http.StatusBadRequest)
			return
		}
		old, err := strconv.ParseInt(strings.TrimPrefix(lines[0], "old "), 10, 64)
		if err != nil || old < 0 {
			http.Error(w, "bad old size", http.StatusBadRequest)
			return
		}
		var proof tlog.TreeProof
		for _, line := range lines[1:] {
			hash, err := tlog.ParseHash(line)
			if err != nil {
				http.Error(w, "bad proof line", http.StatusBadRequest)
				return
			}
			proof = append(proof, hash)
		}
		signed, err := note.Open(checkpoint, note.VerifierList(logVerifier))
		if err != nil {
			if _, unknown := err.(*note.UnverifiedNoteError); unknown {
				http.Error(w, "unknown log", http.StatusNotFound)
			} else {
				http.Error(w, err.Error(), http.StatusForbidden)
			}
			return
		}
		text := strings.SplitN(signed.Text, "\n", 4)
		if len(text) < 4 || text[0] != logVerifier.Name() {
			http.Error(w, "unknown origin", http.StatusNotFound)
			return
		}
		size, err1 := strconv.ParseInt(text[1], 10, 64)
		root, err2 := tlog.ParseHash(text[2])
		if err1 != nil || err2 != nil {
			http.Error(w, "not a checkpoint", http.StatusBadRequest)
			return
		}
		if old > size {
			http.Error(w, "old size past the checkpoint", http.StatusBadRequest)
			return
		}
		seen.Lock()
		defer seen.Unlock()
		origin := text[0]
		if old != seen.size[origin] {
			w.Header().Set("Content-Type", "text/x.tlog.size")
			w.WriteHeader(http.StatusConflict)
			fmt.Fprintf(w, "%d\n", seen.size[origin])
			return
		}
		switch {
		case old == 0 && len(proof) != 0:
			http.Error(w, "a proof from the empty tree", http.StatusUnprocessableEntity)
			return
		case old == size && root != seen.hash[origin] && old != 0:
			http.Error(w, "same size, another root", http.StatusUnprocessableEntity)
			return
		case old != 0 && old != size:
			if err := tlog.CheckTree(proof, size, root, old, seen.hash[origin]); err != nil {
				http.Error(w, "not consistent: "+err.Error(), http.StatusUnprocessableEntity)
				return
			}
		}
		seen.size[origin], seen.hash[origin] = size, root
		now := uint64(time.Now().Unix())
		message := fmt.Sprintf("cosignature/v1\ntime %d\n%s", now, signed.Text)
		signature := make([]byte, 0, 4+8+ed25519.SignatureSize)
		signature = append(signature, id[:4]...)
		signature = binary.BigEndian.AppendUint64(signature, now)
		signature = append(signature, ed25519.Sign(key, []byte(message))...)
		fmt.Fprintf(w, "— %s %s\n", *name, base64.StdEncoding.EncodeToString(signature))
	})

	listener, err := net.Listen("tcp", *listen)
	if err != nil {
		fmt.Fprintln(os.Stderr, "witness:", err)
		os.Exit(1)
	}
	fmt.Printf("listening %s\n", listener.Addr())
	os.Stdout.Sync()
	if err := http.Serve(listener, nil); err != nil {
		fmt.Fprintln(os.Stderr, "witness:", err)
		os.Exit(1)
	}
}
