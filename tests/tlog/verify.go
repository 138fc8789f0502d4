// Command verify checks a Lineage store as a C2SP transparency log with Go's own
// sumdb packages (golang.org/x/mod/sumdb/note and .../tlog), none of Lineage's code:
//
//   - GET /tlog/checkpoint: the signed note verifies with the verifier key given, and its
//     body is a tlog-checkpoint (origin, size, base64 root);
//   - the root recomputed from the tiles at /tlog/tile/<L>/<N>[.p/<W>] equals the signed
//     root (tlog.TileHashReader checks every tile it reads against the tree);
//   - every line of an export (`lineage export`) up to the checkpoint's size is the entry
//     in the entry bundle at /tlog/tile/entries/<N>[.p/<W>], byte for byte, and hashes to
//     the leaf in the level-0 tile; sampled entries are also proven included with
//     tlog.ProveRecord / tlog.CheckRecord;
//   - with -old, an earlier checkpoint note: it verifies too, and tlog.ProveTree /
//     tlog.CheckTree show the current tree extends it;
//   - with -witness (repeatable), the checkpoint carries a valid cosignature/v1 of each
//     witness (c2sp.org/tlog-cosignature);
//   - with -bundle FILE instead, offline: a bill's bundle (`lineage bill --bundle`) — its
//     checkpoint, each event's inclusion, and every line of the bill recomputed from the
//     events with the bundle's price book (bill.go); with -export too, that the export is
//     the log the checkpoint signs and the bundle leaves out none of its billed events.
//
// It prints one "ok:" line per check and exits 1 with the reason on the first failure.
package main

import (
	"bufio"
	"bytes"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"strconv"
	"strings"

	"golang.org/x/mod/sumdb/note"
	"golang.org/x/mod/sumdb/tlog"
)

const tileHeight = 8

var (
	base       = flag.String("url", "", "the server, e.g. http://127.0.0.1:8080")
	token      = flag.String("token", "", "a bearer token of the store's administrator")
	vkey       = flag.String("vkey", "", "the verifier key (lineage key --format vkey)")
	export     = flag.String("export", "", "an export of the log (lineage export)")
	old        = flag.String("old", "", "an earlier checkpoint note, to check consistency with")
	samples    = flag.Int("samples", 16, "entries proven included one by one")
	witness    witnesses
	bundleFile = flag.String("bundle", "", "a bill's bundle to check offline, instead of a server")
)

func init() {
	flag.Var(&witness, "witness", "a witness whose cosignature the checkpoint must carry (its vkey; repeatable)")
}

type witnesses []string

func (list *witnesses) String() string     { return strings.Join(*list, ",") }
func (list *witnesses) Set(v string) error { *list = append(*list, v); return nil }

// cosigner verifies Ed25519 cosignatures (key type 4): a timestamped signature over
// "cosignature/v1\ntime T\n" and the checkpoint. Go's note package knows only type 1.
type cosigner struct {
	name string
	id   uint32
	key  ed25519.PublicKey
}

func (c cosigner) Name() string    { return c.name }
func (c cosigner) KeyHash() uint32 { return c.id }
func (c cosigner) Verify(msg, sig []byte) bool {
	if len(sig) != 8+ed25519.SignatureSize {
		return false
	}
	time := binary.BigEndian.Uint64(sig[:8])
	signed := fmt.Sprintf("cosignature/v1\ntime %d\n%s", time, msg)
	return time != 0 && ed25519.Verify(c.key, []byte(signed), sig[8:])
}

func parseCosigner(vkey string) cosigner {
	parts := strings.SplitN(vkey, "+", 3)
	if len(parts) != 3 {
		fail("witness key %q: not NAME+ID+KEY", vkey)
	}
	id, err := strconv.ParseUint(parts[1], 16, 32)
	key, err2 := base64.StdEncoding.DecodeString(parts[2])
	if err != nil || err2 != nil || len(key) != 33 || key[0] != 0x04 {
		fail("witness key %q: not an Ed25519 cosignature key", vkey)
	}
	hash := sha256.Sum256(append([]byte(parts[0]+"\n"), key...))
	if binary.BigEndian.Uint32(hash[:4]) != uint32(id) {
		fail("witness key %q: its id does not match", vkey)
	}
	return cosigner{name: parts[0], id: uint32(id), key: ed25519.PublicKey(key[1:])}
}

func fail(format string, args ...interface{}) {
	fmt.Fprintf(os.Stderr, "verify: "+format+"\n", args...)
	os.Exit(1)
}

func get(path string) []byte {
	request, err := http.NewRequest("GET", strings.TrimRight(*base, "/")+path, nil)
	if err != nil {
		fail("%v", err)
	}
	request.Header.Set("Authorization", "Bearer "+*token)
	response, err := http.DefaultClient.Do(request)
	if err != nil {
		fail("GET %s: %v", path, err)
	}
	defer response.Body.Close()
	body, err := io.ReadAll(response.Body)
	if err != nil {
		fail("GET %s: %v", path, err)
	}
	if response.StatusCode != 200 {
		fail("GET %s: %s: %s", path, response.Status, body)
	}
	return body
}

// A tlog-checkpoint body, parsed by hand: Go's tlog.ParseTree reads only the go.sum
// database's own origin line.
type checkpoint struct {
	origin string
	tree   tlog.Tree
}

func open(msg []byte, verifier note.Verifier, cosigners ...note.Verifier) checkpoint {
	n, err := note.Open(msg, note.VerifierList(append([]note.Verifier{verifier}, cosigners...)...))
	if err != nil {
		fail("the checkpoint's signature does not verify: %v", err)
	}
	for _, want := range append([]note.Verifier{verifier}, cosigners...) {
		found := false
		for _, sig := range n.Sigs {
			found = found || (sig.Name == want.Name() && sig.Hash == want.KeyHash())
		}
		if !found {
			fail("the checkpoint carries no valid signature of %s", want.Name())
		}
	}
	lines := strings.SplitN(n.Text, "\n", 4)
	if len(lines) < 4 {
		fail("the checkpoint has fewer than three lines: %q", n.Text)
	}
	size, err := strconv.ParseInt(lines[1], 10, 64)
	if err != nil || size < 0 {
		fail("the checkpoint's size %q is not a number", lines[1])
	}
	root, err := tlog.ParseHash(lines[2])
	if err != nil {
		fail("the checkpoint's root %q is not a base64 hash", lines[2])
	}
	return checkpoint{origin: lines[0], tree: tlog.Tree{N: size, Hash: root}}
}

// tilePath spells a tile as tlog-tiles does: Go's sumdb paths also name the height, and
// call entry bundles "data".
func tilePath(t tlog.Tile) string {
	path := strings.TrimPrefix(t.Path(), fmt.Sprintf("tile/%d/", tileHeight))
	return "/tlog/tile/" + strings.Replace(path, "data/", "entries/", 1)
}

// tiles fetches tiles once each: a tile at a given path never changes (and
// tlog.TileHashReader checks each one against the signed tree whenever it is used).
type tiles map[string][]byte

func (tiles) Height() int { return tileHeight }

func (fetched tiles) ReadTiles(list []tlog.Tile) ([][]byte, error) {
	out := make([][]byte, len(list))
	for i, t := range list {
		path := tilePath(t)
		if _, ok := fetched[path]; !ok {
			fetched[path] = get(path)
		}
		out[i] = fetched[path]
	}
	return out, nil
}

func (tiles) SaveTiles([]tlog.Tile, [][]byte) {}

// bundle splits an entry bundle into its entries (each after a big-endian uint16 length).
func bundle(data []byte) [][]byte {
	var entries [][]byte
	for len(data) > 0 {
		if len(data) < 2 {
			fail("an entry bundle ends inside a length")
		}
		n := int(binary.BigEndian.Uint16(data))
		if len(data) < 2+n {
			fail("an entry bundle ends inside an entry")
		}
		entries = append(entries, data[2:2+n])
		data = data[2+n:]
	}
	return entries
}

func main() {
	flag.Parse()
	verifier, err := note.NewVerifier(*vkey)
	if err != nil {
		fail("the verifier key (-vkey): %v", err)
	}
	var cosigners []note.Verifier
	for _, vkey := range witness {
		cosigners = append(cosigners, parseCosigner(vkey))
	}
	if *bundleFile != "" {
		checkBundle(*bundleFile, *export, verifier, cosigners)
		return
	}
	if *base == "" || *export == "" {
		fail("-url and -export are needed (or -bundle)")
	}
	current := open(get("/tlog/checkpoint"), verifier, cosigners...)
	size := current.tree.N
	fmt.Printf("ok: checkpoint of %s signed by %s: %d entries, root %v\n", current.origin, verifier.Name(), size, current.tree.Hash)
	for _, c := range cosigners {
		fmt.Printf("ok: cosigned by witness %s\n", c.Name())
	}

	reader := tlog.TileHashReader(current.tree, tiles{})
	root, err := tlog.TreeHash(size, reader)
	if err != nil {
		fail("the tiles do not make the signed tree: %v", err)
	}
	if root != current.tree.Hash {
		fail("the tiles give root %v, the checkpoint signs %v", root, current.tree.Hash)
	}
	fmt.Printf("ok: the tiles make the signed root\n")

	file, err := os.Open(*export)
	if err != nil {
		fail("%v", err)
	}
	defer file.Close()
	lines := bufio.NewScanner(file)
	lines.Buffer(make([]byte, 1<<20), 1<<20)
	var index int64
	var entries [][]byte
	proven := 0
	every := size / int64(*samples)
	if every < 1 {
		every = 1
	}
	for index < size && lines.Scan() {
		line := lines.Bytes()
		if index%(1<<tileHeight) == 0 {
			width := size - index
			if width > 1<<tileHeight {
				width = 1 << tileHeight
			}
			entries = bundle(get(tilePath(tlog.Tile{H: tileHeight, L: -1, N: index >> tileHeight, W: int(width)})))
			if int64(len(entries)) != width {
				fail("entry bundle %d holds %d entries, not %d", index>>tileHeight, len(entries), width)
			}
		}
		served := entries[index%(1<<tileHeight)]
		if !bytes.Equal(served, line) {
			fail("entry %d (seq %d) differs from the export's line:\n  served %s\n  export %s", index, index+1, served, line)
		}
		leaf := tlog.RecordHash(line)
		hashes, err := reader.ReadHashes([]int64{tlog.StoredHashIndex(0, index)})
		if err != nil {
			fail("leaf %d: %v", index, err)
		}
		if hashes[0] != leaf {
			fail("entry %d (seq %d) does not hash to its leaf", index, index+1)
		}
		if index%every == 0 || index == size-1 {
			proof, err := tlog.ProveRecord(size, index, reader)
			if err != nil {
				fail("proving entry %d: %v", index, err)
			}
			if err := tlog.CheckRecord(proof, size, current.tree.Hash, index, leaf); err != nil {
				fail("entry %d (seq %d) is not included: %v", index, index+1, err)
			}
			proven++
		}
		index++
	}
	if err := lines.Err(); err != nil {
		fail("reading the export: %v", err)
	}
	if index < size {
		fail("the export holds %d entries, the checkpoint %d", index, size)
	}
	fmt.Printf("ok: all %d entries of the export are the tree's, byte for byte; %d proven included\n", size, proven)

	if *old != "" {
		msg, err := os.ReadFile(*old)
		if err != nil {
			fail("%v", err)
		}
		earlier := open(msg, verifier)
		if earlier.origin != current.origin {
			fail("the earlier checkpoint is of %s, not %s", earlier.origin, current.origin)
		}
		if earlier.tree.N > size {
			fail("the earlier checkpoint has %d entries, more than the current %d", earlier.tree.N, size)
		}
		proof, err := tlog.ProveTree(size, earlier.tree.N, reader)
		if err != nil {
			fail("proving consistency: %v", err)
		}
		if err := tlog.CheckTree(proof, size, current.tree.Hash, earlier.tree.N, earlier.tree.Hash); err != nil {
			fail("the tree of %d entries does not extend the earlier one of %d: %v", size, earlier.tree.N, err)
		}
		fmt.Printf("ok: the tree of %d entries extends the earlier checkpoint of %d\n", size, earlier.tree.N)
	}
}
