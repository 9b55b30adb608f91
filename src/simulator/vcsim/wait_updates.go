// Compiled INTO github.com/vmware/govmomi/simulator by `go build -overlay` (see build.ts).
//
// vcsim 0.24.2's WaitForUpdatesEx keeps one queue of changes per collector (its registry
// handler appends every change of every object) and, on each 250 ms tick with changes queued,
// first enters the objects a filter newly selects, reading their current values, then sends
// every queued change of every object the filter has entered. An object entered on that very
// tick has its changes from before the enter sent after it: a watcher that created a filter and
// then saw a property change twice before the tick got the newer value (the enter) and then
// both changes again, older first (task progress 50, 10, 20, ... 50). The first wait (version
// "") also read the state before registering the handler, so a change between the two was
// never sent at all. vCenter sends an object's current values on enter and after that only
// changes newer than what it has sent.
//
// Fixed without touching the package's files: the paging collector (retrieve_paging.go) also
// shadows WaitForUpdatesEx and WaitForUpdates, and is itself the registry handler, numbering
// each queued change. An object is entered into a filter by reading it under its lock (the lock
// the SOAP dispatcher holds while a method changes the object) together with the number of the
// last queued change; changes of that object numbered up to there are already in the enter and
// are not sent to that filter. Each tick's answer has one PropertyFilterUpdate per filter: its
// enters, then its changes and leaves in the order they happened.

package simulator

import (
	"context"
	"sync"
	"time"

	"github.com/vmware/govmomi/vim25/methods"
	"github.com/vmware/govmomi/vim25/mo"
	"github.com/vmware/govmomi/vim25/soap"
	"github.com/vmware/govmomi/vim25/types"
)

// waitUpdatesTick is the package's period for a pending wait to look at the queue. The
// package only looks on the tick, so every change reached a watcher up to 250 ms late, where
// vCenter answers a pending wait as soon as a change is committed; a change now wakes the wait
// at once, and the tick only paces maxWaitSeconds 0.
const waitUpdatesTick = 250 * time.Millisecond

// waitUpdatesGather is how long a woken wait lets further changes of the same moment (one task
// changing several properties, its state and the VM's) join its answer.
const waitUpdatesGather = 5 * time.Millisecond

type queuedUpdate struct {
	seq    uint64
	update types.ObjectUpdate
}

// updateQueue is the collector's record of changes, filled by its registry handler methods.
type updateQueue struct {
	queueMu sync.Mutex
	seq     uint64 // number of the last queued change
	queue   []queuedUpdate
	// notify has a token while changes are queued that no wait has been woken for.
	notify chan struct{}

	// waitMu serializes the update calculations of concurrent waits on one collector (filters'
	// refs and enteredAt are only touched under it). Lock order: waitMu, object lock, queueMu.
	waitMu sync.Mutex
	// enteredAt[filter][obj] is the number of the last queued change when obj was entered into
	// filter: its changes numbered up to there are already in the enter.
	enteredAt map[types.ManagedObjectReference]map[types.ManagedObjectReference]uint64
}

func (q *updateQueue) push(u types.ObjectUpdate) {
	q.queueMu.Lock()
	q.seq++
	q.queue = append(q.queue, queuedUpdate{seq: q.seq, update: u})
	notify := q.notifyLocked()
	q.queueMu.Unlock()
	select {
	case notify <- struct{}{}:
	default: // a wake-up is pending already
	}
}

// changed is readable when changes were queued since a wait last took the token.
func (q *updateQueue) changed() <-chan struct{} {
	q.queueMu.Lock()
	defer q.queueMu.Unlock()
	return q.notifyLocked()
}

func (q *updateQueue) notifyLocked() chan struct{} {
	if q.notify == nil {
		q.notify = make(chan struct{}, 1)
	}
	return q.notify
}

func (q *updateQueue) last() uint64 {
	q.queueMu.Lock()
	defer q.queueMu.Unlock()
	return q.seq
}

func (q *updateQueue) drain() []queuedUpdate {
	q.queueMu.Lock()
	defer q.queueMu.Unlock()
	batch := q.queue
	q.queue = nil
	return batch
}

// PutObject, UpdateObject and RemoveObject make the collector a registry handler (RegisterObject)
// that numbers what it queues; they shadow the package's, which keep an unnumbered queue.
func (pc *pagingPropertyCollector) PutObject(o mo.Reference) {
	pc.push(types.ObjectUpdate{Obj: o.Reference(), Kind: types.ObjectUpdateKindEnter})
}

func (pc *pagingPropertyCollector) UpdateObject(o mo.Reference, changes []types.PropertyChange) {
	pc.push(types.ObjectUpdate{Obj: o.Reference(), Kind: types.ObjectUpdateKindModify, ChangeSet: changes})
}

func (pc *pagingPropertyCollector) RemoveObject(ref types.ManagedObjectReference) {
	pc.push(types.ObjectUpdate{Obj: ref, Kind: types.ObjectUpdateKindLeave})
}

// filterUpdates gathers one tick's answer, one PropertyFilterUpdate per filter.
type filterUpdates struct {
	order []types.ManagedObjectReference
	byRef map[types.ManagedObjectReference]*types.PropertyFilterUpdate
}

func (f *filterUpdates) add(filter types.ManagedObjectReference, u types.ObjectUpdate) {
	if f.byRef == nil {
		f.byRef = map[types.ManagedObjectReference]*types.PropertyFilterUpdate{}
	}
	fu := f.byRef[filter]
	if fu == nil {
		fu = &types.PropertyFilterUpdate{Filter: filter}
		f.byRef[filter] = fu
		f.order = append(f.order, filter)
	}
	fu.ObjectSet = append(fu.ObjectSet, u)
}

func (f *filterUpdates) list() []types.PropertyFilterUpdate {
	out := make([]types.PropertyFilterUpdate, 0, len(f.order))
	for _, ref := range f.order {
		out = append(out, *f.byRef[ref])
	}
	return out
}

// filters returns the collector's filters that still exist, with their references.
func (pc *pagingPropertyCollector) filters(ctx *Context) ([]types.ManagedObjectReference, []*PropertyFilter) {
	var refs []types.ManagedObjectReference
	var filters []*PropertyFilter
	for _, ref := range pc.Filter {
		if filter, ok := ctx.Session.Get(ref).(*PropertyFilter); ok {
			refs = append(refs, ref)
			filters = append(filters, filter)
		}
	}
	return refs, filters
}

// enter adds an enter, with its current values, for every object a filter selects that it has
// not entered yet. Called with waitMu held.
func (pc *pagingPropertyCollector) enter(ctx *Context, out *filterUpdates) types.BaseMethodFault {
	refs, filters := pc.filters(ctx)
	for i, filter := range filters {
		req := &types.RetrievePropertiesEx{SpecSet: []types.PropertyFilterSpec{filter.Spec}}
		res, fault := pc.collect(ctx, req) // the objects the filter selects now
		if fault != nil {
			return fault
		}
		for _, o := range res.Objects {
			if _, ok := filter.refs[o.Obj]; ok {
				continue
			}
			// Read again under the object's lock, with the number of the last queued change:
			// whoever changes the object holds that lock until its change is queued, so the
			// changes up to that number are exactly the ones the values read include.
			rr := &retrieveResult{
				RetrieveResult: &types.RetrieveResult{},
				req:            req,
				collected:      map[types.ManagedObjectReference]bool{},
				specs:          map[string]*types.TraversalSpec{},
			}
			var seq uint64
			ctx.WithLock(o.Obj, func() {
				seq = pc.last()
				rr.collect(ctx, o.Obj)
			})
			if len(rr.Objects) == 0 {
				continue // gone meanwhile
			}
			filter.refs[o.Obj] = struct{}{}
			if pc.enteredAt == nil {
				pc.enteredAt = map[types.ManagedObjectReference]map[types.ManagedObjectReference]uint64{}
			}
			if pc.enteredAt[refs[i]] == nil {
				pc.enteredAt[refs[i]] = map[types.ManagedObjectReference]uint64{}
			}
			pc.enteredAt[refs[i]][o.Obj] = seq
			ou := types.ObjectUpdate{Obj: o.Obj, Kind: types.ObjectUpdateKindEnter}
			for _, p := range rr.Objects[0].PropSet {
				ou.ChangeSet = append(ou.ChangeSet, types.PropertyChange{
					Op:   types.PropertyChangeOpAssign,
					Name: p.Name,
					Val:  p.Val,
				})
			}
			out.add(refs[i], ou)
		}
	}
	return nil
}

// changes adds, per filter, the batch's changes of entered objects that are newer than their
// enter, and their leaves; then forgets enter numbers no later change can be at or below.
// Called with waitMu held.
func (pc *pagingPropertyCollector) changes(ctx *Context, batch []queuedUpdate, out *filterUpdates) {
	refs, filters := pc.filters(ctx)
	for i, filter := range filters {
		enteredAt := pc.enteredAt[refs[i]]
		for _, q := range batch {
			obj := q.update.Obj
			if _, ok := filter.refs[obj]; !ok {
				continue
			}
			switch q.update.Kind {
			case types.ObjectUpdateKindModify:
				if at, ok := enteredAt[obj]; ok && q.seq <= at {
					continue // the enter already carries this change, or a newer value
				}
				if u := filter.apply(ctx, q.update); len(u.ChangeSet) != 0 {
					out.add(refs[i], u)
				}
			case types.ObjectUpdateKindLeave:
				delete(filter.refs, obj)
				delete(enteredAt, obj)
				out.add(refs[i], q.update)
			}
		}
	}

	// Every change still to come is numbered above the batch's last; filters destroyed since
	// need nothing either.
	var done uint64
	if len(batch) != 0 {
		done = batch[len(batch)-1].seq
	}
	live := map[types.ManagedObjectReference]bool{}
	for _, ref := range refs {
		live[ref] = true
	}
	for ref, enteredAt := range pc.enteredAt {
		for obj, at := range enteredAt {
			if at <= done {
				delete(enteredAt, obj)
			}
		}
		if !live[ref] || len(enteredAt) == 0 {
			delete(pc.enteredAt, ref)
		}
	}
}

// WaitForUpdatesEx shadows the package's, with its options and answers (version "" answers the
// current state at once and makes later waits "-"; maxWaitSeconds 0 computes once; a wait
// past maxWaitSeconds answers nothing; CancelWaitForUpdates faults it with RequestCanceled),
// but never sends a filter a change older than its enter (see the top of this file).
func (pc *pagingPropertyCollector) WaitForUpdatesEx(ctx *Context, r *types.WaitForUpdatesEx) soap.HasFault {
	wait, cancel := context.WithCancel(context.Background())
	oneUpdate := false
	if r.Options != nil {
		if max := r.Options.MaxWaitSeconds; max != nil {
			oneUpdate = *max == 0
			if *max > 0 {
				wait, cancel = context.WithTimeout(context.Background(), time.Second*time.Duration(*max))
			}
		}
	}
	defer cancel()
	pc.mu.Lock()
	pc.cancel = cancel // CancelWaitForUpdates (the package's) calls it
	pc.mu.Unlock()

	body := &methods.WaitForUpdatesExBody{}
	set := &types.UpdateSet{Version: r.Version}
	body.Res = &types.WaitForUpdatesExResponse{Returnval: set}

	// compute fills set from the batch; false with body's fault set if that failed.
	compute := func(batch []queuedUpdate) bool {
		pc.waitMu.Lock()
		defer pc.waitMu.Unlock()
		out := &filterUpdates{}
		if fault := pc.enter(ctx, out); fault != nil {
			body.Fault_ = Fault("", fault)
			body.Res = nil
			return false
		}
		pc.changes(ctx, batch, out)
		set.FilterSet = out.list()
		return true
	}

	if r.Version == "" {
		// Listen before reading, so no change between the read and the next wait is lost.
		ctx.Map.AddHandler(pc)
		if compute(nil) {
			set.Version = "-" // a wait with a version blocks in the loop below
		}
		return body
	}

	ticker := time.NewTicker(waitUpdatesTick)
	defer ticker.Stop()
	changed := pc.changed()
	for {
		select {
		case <-wait.Done():
			body.Res.Returnval = nil
			if wait.Err() == context.Canceled {
				body.Fault_ = Fault("", new(types.RequestCanceled)) // CancelWaitForUpdates was called
				body.Res = nil
			}
			return body
		case <-changed:
			time.Sleep(waitUpdatesGather)
		case <-ticker.C:
		}
		batch := pc.drain()
		if len(batch) != 0 {
			if !compute(batch) {
				return body
			}
			if len(set.FilterSet) != 0 {
				return body
			}
		}
		if oneUpdate {
			body.Res.Returnval = nil
			return body
		}
	}
}

// WaitForUpdates (deprecated, used by pyvmomi) shadows the package's so it waits the same way.
func (pc *pagingPropertyCollector) WaitForUpdates(ctx *Context, r *types.WaitForUpdates) soap.HasFault {
	body := &methods.WaitForUpdatesBody{}
	res := pc.WaitForUpdatesEx(ctx, &types.WaitForUpdatesEx{This: r.This, Version: r.Version})
	if res.Fault() != nil {
		body.Fault_ = res.Fault()
		return body
	}
	body.Res = &types.WaitForUpdatesResponse{}
	if set := res.(*methods.WaitForUpdatesExBody).Res.Returnval; set != nil {
		body.Res.Returnval = *set
	}
	return body
}
