// The bill of a bundle, worked out again from its events: an independent port of
// Lineage's billing rules (seats beyond the free ones by day, the model-management plan by
// day with its overage, run hours by compute-target kind; each line priced once and
// rounded half up), so that a bundle's every line is checked by code that is not
// Lineage's.
package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"os"
	"sort"
	"strconv"
	"time"

	"golang.org/x/mod/sumdb/note"
	"golang.org/x/mod/sumdb/tlog"
)

type priceBook struct {
	FreeSeats               int64               `json:"free_seats"`
	SeatPerMonth            int64               `json:"seat_per_month"`
	PlanPerUnitMonth        map[string]int64    `json:"plan_per_unit_month"`
	AllowancePerUnit        map[string][2]int64 `json:"allowance_per_unit"`
	ExtraModelPerMonth      int64               `json:"extra_model_per_month"`
	ExtraDeploymentPerMonth int64               `json:"extra_deployment_per_month"`
	ComputePerHour          map[string]int64    `json:"compute_per_hour"`
}

type billLine struct {
	Description string   `json:"description"`
	Quantity    string   `json:"quantity"`
	Unit        string   `json:"unit"`
	UnitPrice   int64    `json:"unit_price"`
	PricePer    string   `json:"price_per"`
	DaysInMonth *uint32  `json:"days_in_month"`
	Amount      int64    `json:"amount"`
	Events      []uint64 `json:"events"`
}

type bill struct {
	Currency string            `json:"currency"`
	Lines    []billLine        `json:"lines"`
	Total    int64             `json:"total"`
	Seats    []json.RawMessage `json:"seats"`
}

// event is what billing reads of an entry.
type event struct {
	Seq        uint64                     `json:"seq"`
	Account    *string                    `json:"account"`
	OccurredAt *string                    `json:"occurred_at"`
	RecordedAt string                     `json:"recorded_at"`
	Event      map[string]json.RawMessage `json:"event"`
	name       string
	payload    map[string]json.RawMessage
	at         time.Time
}

func (e *event) text(field string) string {
	var value string
	json.Unmarshal(e.payload[field], &value)
	return value
}

type plan struct {
	Tier  string `json:"tier"`
	Units int64  `json:"units"`
}

func roundDiv(numerator, denominator int64) int64 {
	return (numerator*2 + denominator) / (denominator * 2)
}

func billed(name string) bool {
	switch name {
	case "SeatAssigned", "SeatRevoked", "ModelManagementAccountCreated", "ModelManagementPlanChanged",
		"ModelCreated", "ServiceDeployed", "ServiceDeleted", "RunStarted", "RunCompleted", "RunFailed", "RunCanceled":
		return true
	}
	return false
}

// kindLabel names a compute target's kind as prices do.
func kindLabel(raw json.RawMessage) string {
	var name string
	if json.Unmarshal(raw, &name) != nil {
		var tagged map[string]json.RawMessage
		json.Unmarshal(raw, &tagged)
		for key := range tagged {
			name = key
		}
	}
	return map[string]string{"Local": "local", "Docker": "docker", "RemoteVm": "remote-vm", "SparkCluster": "spark-cluster"}[name]
}

// recompute works the bill of account for month (YYYY-MM) out of the entries.
func recompute(account, month string, prices priceBook, entries []string) (bill, error) {
	first, err := time.Parse("2006-01", month)
	if err != nil {
		return bill{}, fmt.Errorf("month %q: %v", month, err)
	}
	days := int(first.AddDate(0, 1, 0).Sub(first).Hours() / 24)
	endOfDay := func(day int) time.Time { return first.AddDate(0, 0, day) }
	kinds := map[string]string{}
	var events []*event
	for _, entry := range entries {
		e := &event{}
		if err := json.Unmarshal([]byte(entry), e); err != nil {
			return bill{}, err
		}
		for name, payload := range e.Event {
			e.name = name
			json.Unmarshal(payload, &e.payload)
		}
		when := e.RecordedAt
		if e.OccurredAt != nil {
			when = *e.OccurredAt
		}
		if e.at, err = time.Parse(time.RFC3339Nano, when); err != nil {
			return bill{}, err
		}
		if e.Account == nil || *e.Account != account {
			continue
		}
		if e.name == "ComputeTargetAttached" {
			kinds[e.text("target")] = kindLabel(e.payload["kind"])
		}
		if billed(e.name) {
			events = append(events, e)
		}
	}
	var out bill
	out.Currency = "USD"
	out.Lines, out.Seats = []billLine{}, []json.RawMessage{}
	monthDays := uint32(days)
	daily := func(description string, quantity int64, unit, per string, price int64, seqs map[uint64]bool) billLine {
		return billLine{description, strconv.FormatInt(quantity, 10), unit, price, per, &monthDays,
			roundDiv(quantity*price, int64(days)), sorted(seqs)}
	}

	// Seats.
	type change struct {
		at    time.Time
		holds bool
	}
	changes := map[string][]change{}
	seatSeqs := map[string][]uint64{}
	for _, e := range events {
		if e.name == "SeatAssigned" || e.name == "SeatRevoked" {
			p := e.text("principal")
			changes[p] = append(changes[p], change{e.at, e.name == "SeatAssigned"})
			seatSeqs[p] = append(seatSeqs[p], e.Seq)
		}
	}
	principals := make([]string, 0, len(changes))
	for p := range changes {
		principals = append(principals, p)
	}
	sort.Strings(principals)
	perDay := make([]int64, days+1)
	var seqs []uint64
	for _, p := range principals {
		var held []uint32
		for day := 1; day <= days; day++ {
			start, end := endOfDay(day-1), endOfDay(day)
			before, during := false, false
			for _, c := range changes[p] {
				if c.at.Before(start) {
					before = c.holds
				}
				if !c.at.Before(start) && c.at.Before(end) && c.holds {
					during = true
				}
			}
			if before || during {
				held = append(held, uint32(day))
				perDay[day]++
			}
		}
		if len(held) == 0 {
			continue
		}
		seqs = append(seqs, seatSeqs[p]...)
		seat, _ := json.Marshal([]interface{}{p, held})
		out.Seats = append(out.Seats, seat)
	}
	if len(changes) > 0 {
		var billable int64
		for _, held := range perDay {
			if held > prices.FreeSeats {
				billable += held - prices.FreeSeats
			}
		}
		set := map[uint64]bool{}
		for _, seq := range seqs {
			set[seq] = true
		}
		line := daily(fmt.Sprintf("seats beyond the first %d (pro-rated by day)", prices.FreeSeats), billable, "seat-days", "seat-month", prices.SeatPerMonth, set)
		line.Events = sortedList(seqs)
		out.Lines = append(out.Lines, line)
	}

	// The plan and its overage, by the plan in force at the end of each day.
	type planned struct {
		at   time.Time
		plan plan
		seq  uint64
	}
	var plans []planned
	for _, e := range events {
		if e.name == "ModelManagementAccountCreated" || e.name == "ModelManagementPlanChanged" {
			var p plan
			json.Unmarshal(e.payload["plan"], &p)
			plans = append(plans, planned{e.at, p, e.Seq})
		}
	}
	unitDays, planSeqs := map[string]int64{}, map[string]map[uint64]bool{}
	var modelDays, deploymentDays int64
	modelSeqs, deploymentSeqs := map[uint64]bool{}, map[uint64]bool{}
	for day := 1; day <= days; day++ {
		end := endOfDay(day)
		var current *planned
		for i := range plans {
			if plans[i].at.Before(end) {
				current = &plans[i]
			}
		}
		if current == nil {
			continue
		}
		tier := current.plan.Tier
		unitDays[tier] += current.plan.Units
		if planSeqs[tier] == nil {
			planSeqs[tier] = map[uint64]bool{}
		}
		planSeqs[tier][current.seq] = true
		allowance := prices.AllowancePerUnit[tier]
		var models []uint64
		live := map[string]uint64{}
		for _, e := range events {
			if !e.at.Before(end) {
				continue
			}
			switch e.name {
			case "ModelCreated":
				models = append(models, e.Seq)
			case "ServiceDeployed":
				live[e.text("service")] = e.Seq
			case "ServiceDeleted":
				delete(live, e.text("service"))
			}
		}
		if extra := int64(len(models)) - allowance[0]*current.plan.Units; extra > 0 {
			modelDays += extra
			for _, seq := range models {
				modelSeqs[seq] = true
			}
		}
		if extra := int64(len(live)) - allowance[1]*current.plan.Units; extra > 0 {
			deploymentDays += extra
			for _, seq := range live {
				deploymentSeqs[seq] = true
			}
		}
	}
	for _, tier := range sortedKeys(unitDays) {
		out.Lines = append(out.Lines, daily(fmt.Sprintf("model management plan %s (pro-rated by day)", tier), unitDays[tier], "unit-days", "unit-month", prices.PlanPerUnitMonth[tier], planSeqs[tier]))
	}
	if modelDays > 0 {
		out.Lines = append(out.Lines, daily("managed models beyond the plan's allowance", modelDays, "model-days", "model-month", prices.ExtraModelPerMonth, modelSeqs))
	}
	if deploymentDays > 0 {
		out.Lines = append(out.Lines, daily("active deployments beyond the plan's allowance", deploymentDays, "deployment-days", "deployment-month", prices.ExtraDeploymentPerMonth, deploymentSeqs))
	}

	// Run compute hours, by compute-target kind.
	type span struct {
		started, finished *time.Time
		kind              string
		seqs              []uint64
	}
	runs := map[string]*span{}
	for _, e := range events {
		at := e.at
		run := e.text("run")
		switch e.name {
		case "RunStarted", "RunCompleted", "RunFailed", "RunCanceled":
			if runs[run] == nil {
				runs[run] = &span{}
			}
		default:
			continue
		}
		if e.name == "RunStarted" {
			runs[run].started = &at
			runs[run].kind = kinds[e.text("compute_target")]
			if runs[run].kind == "" {
				runs[run].kind = "local"
			}
		} else {
			runs[run].finished = &at
		}
		runs[run].seqs = append(runs[run].seqs, e.Seq)
	}
	micros, kindSeqs := map[string]int64{}, map[string][]uint64{}
	monthStart, monthEnd := endOfDay(0), endOfDay(days)
	for _, run := range runs {
		if run.started == nil || run.finished == nil {
			continue
		}
		from, until := *run.started, *run.finished
		if from.Before(monthStart) {
			from = monthStart
		}
		if until.After(monthEnd) {
			until = monthEnd
		}
		if until.After(from) {
			micros[run.kind] += until.Sub(from).Microseconds()
			kindSeqs[run.kind] = append(kindSeqs[run.kind], run.seqs...)
		}
	}
	for _, kind := range sortedKeys(micros) {
		price := prices.ComputePerHour[kind]
		out.Lines = append(out.Lines, billLine{fmt.Sprintf("run compute on %s targets", kind),
			strconv.FormatFloat(float64(micros[kind])/3.6e9, 'f', 3, 64), "hours", price, "hour", nil,
			roundDiv(micros[kind]*price, 3_600_000_000), sortedList(kindSeqs[kind])})
	}
	for _, line := range out.Lines {
		out.Total += line.Amount
	}
	return out, nil
}

func sorted(set map[uint64]bool) []uint64 {
	list := make([]uint64, 0, len(set))
	for seq := range set {
		list = append(list, seq)
	}
	return sortedList(list)
}

func sortedList(list []uint64) []uint64 {
	out := append([]uint64{}, list...)
	sort.Slice(out, func(i, j int) bool { return out[i] < out[j] })
	if out == nil {
		out = []uint64{}
	}
	return out
}

func sortedKeys(m map[string]int64) []string {
	keys := make([]string, 0, len(m))
	for key := range m {
		keys = append(keys, key)
	}
	sort.Strings(keys)
	return keys
}

// checkBundle checks a bill's bundle offline: the checkpoint (and cosignatures), each
// entry's inclusion, and the bill recomputed from the entries.
func checkBundle(path, exportPath string, verifier note.Verifier, cosigners []note.Verifier) {
	raw, err := os.ReadFile(path)
	if err != nil {
		fail("%v", err)
	}
	var bundle struct {
		Format     string          `json:"format"`
		Account    string          `json:"account"`
		Month      string          `json:"month"`
		PriceBook  priceBook       `json:"price_book"`
		Bill       json.RawMessage `json:"bill"`
		Checkpoint string          `json:"checkpoint"`
		Entries    []struct {
			Seq   int64    `json:"seq"`
			Entry string   `json:"entry"`
			Proof []string `json:"proof"`
		} `json:"entries"`
	}
	if err := json.Unmarshal(raw, &bundle); err != nil || bundle.Format != "lineage-bill-bundle/1" {
		fail("%s is not a lineage-bill-bundle/1 (%v)", path, err)
	}
	signed := open([]byte(bundle.Checkpoint), verifier, cosigners...)
	var entries []string
	for _, bundled := range bundle.Entries {
		var proof tlog.RecordProof
		for _, line := range bundled.Proof {
			hash, err := tlog.ParseHash(line)
			if err != nil {
				fail("event %d: its proof is not base64 hashes", bundled.Seq)
			}
			proof = append(proof, hash)
		}
		leaf := tlog.RecordHash([]byte(bundled.Entry))
		if bundled.Seq < 1 || tlog.CheckRecord(proof, signed.tree.N, signed.tree.Hash, bundled.Seq-1, leaf) != nil {
			fail("event %d is not in the log the checkpoint signs", bundled.Seq)
		}
		entries = append(entries, bundled.Entry)
	}
	fmt.Printf("ok: all %d events of the bundle are in the log of %s at %d entries\n", len(entries), signed.origin, signed.tree.N)
	recomputed, err := recompute(bundle.Account, bundle.Month, bundle.PriceBook, entries)
	if err != nil {
		fail("recomputing the bill: %v", err)
	}
	var stated bill
	if err := json.Unmarshal(bundle.Bill, &stated); err != nil {
		fail("the bundle's bill: %v", err)
	}
	same := func(a, b interface{}) bool {
		var left, right interface{}
		first, _ := json.Marshal(a)
		second, _ := json.Marshal(b)
		json.Unmarshal(first, &left)
		json.Unmarshal(second, &right)
		one, _ := json.Marshal(left)
		two, _ := json.Marshal(right)
		return string(one) == string(two)
	}
	for i, line := range stated.Lines {
		if i >= len(recomputed.Lines) || !same(line, recomputed.Lines[i]) {
			fail("the line %q does not follow from its events", line.Description)
		}
	}
	if !same(stated, recomputed) {
		fail("the bill does not follow from its events: stated total %d, recomputed %d", stated.Total, recomputed.Total)
	}
	fmt.Printf("ok: all %d lines of the bill follow from the events: total %d %s\n", len(stated.Lines), stated.Total, stated.Currency)
	if exportPath != "" {
		included := map[int64]bool{}
		for _, bundled := range bundle.Entries {
			included[bundled.Seq] = true
		}
		checkComplete(exportPath, bundle.Account, signed, included)
	}
}

// checkComplete checks that an export begins with exactly the log the checkpoint signs
// (its root rebuilt from the lines with tlog.StoredHashes) and that the bundle holds
// every event of the account in it that bears on the bill.
func checkComplete(exportPath, account string, signed checkpoint, included map[int64]bool) {
	file, err := os.Open(exportPath)
	if err != nil {
		fail("%v", err)
	}
	defer file.Close()
	lines := bufio.NewScanner(file)
	lines.Buffer(make([]byte, 1<<20), 1<<20)
	var stored []tlog.Hash
	reader := tlog.HashReaderFunc(func(indexes []int64) ([]tlog.Hash, error) {
		out := make([]tlog.Hash, len(indexes))
		for i, index := range indexes {
			out[i] = stored[index]
		}
		return out, nil
	})
	var n int64
	for n < signed.tree.N && lines.Scan() {
		line := lines.Bytes()
		hashes, err := tlog.StoredHashes(n, line, reader)
		if err != nil {
			fail("%v", err)
		}
		stored = append(stored, hashes...)
		e := &event{}
		if err := json.Unmarshal(line, e); err != nil {
			fail("export line %d: %v", n+1, err)
		}
		for name := range e.Event {
			bears := billed(name) || name == "ComputeTargetAttached"
			if bears && e.Account != nil && *e.Account == account && !included[int64(e.Seq)] {
				fail("event %d of %s bears on the bill but the bundle leaves it out", e.Seq, account)
			}
		}
		n++
	}
	root, err := tlog.TreeHash(n, reader)
	if err != nil || n != signed.tree.N || root != signed.tree.Hash {
		fail("the export is not the log the checkpoint signs (%d lines read)", n)
	}
	fmt.Printf("ok: the export is the log the checkpoint signs, and the bundle leaves out none of its events that bear on the bill\n")
}
