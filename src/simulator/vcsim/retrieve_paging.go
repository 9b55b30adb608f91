// Compiled INTO github.com/vmware/govmomi/simulator by `go build -overlay` (see build.ts).
//
// vcsim 0.24.2's RetrievePropertiesEx ignores RetrieveOptions.maxObjects and always answers in
// one RetrieveResult without a token; it has no ContinueRetrievePropertiesEx or
// CancelRetrievePropertiesEx. vCenter pages: at most maxObjects objects per result, and when
// maxObjects is unset its policy still limits a result (100 objects in practice, see
// RetrievePageSize), the rest behind a single-use token. The VCH's retrieval loop depends on
// that, so the box pages the same way.
//
// Hooked without touching the package's files: pagingPropertyCollector embeds the package's
// PropertyCollector and shadows RetrievePropertiesEx (a method of an existing type cannot be
// redefined in its package) and CreatePropertyCollector; InstallVCHExtensions puts one in the
// registry in place of the serviceContent.propertyCollector singleton. Session.Get makes each
// session's instance of the singleton by reflection from the registered object's type, so every
// session gets a paging collector of its own, as does every CreatePropertyCollector. The same
// type also shadows WaitForUpdatesEx (wait_updates.go).

package simulator

import (
	"strconv"
	"sync"
	"time"

	"github.com/vmware/govmomi/vim25/methods"
	"github.com/vmware/govmomi/vim25/soap"
	"github.com/vmware/govmomi/vim25/types"
)

// RetrievePageSize is the number of objects per result when RetrieveOptions.maxObjects is unset
// (or not positive). vSphere documents that "PropertyCollector policy may still limit the number
// of objects" when maxObjects is unset; vCenter does, returning 100 objects and a token (reported
// by ManageIQ, the vSphere Java SDK and node-vsphere users against vCenter 5.5 to 8.0).
var RetrievePageSize = 100

// retrieveTokenTTL is how long an unfinished result is kept without a Continue call; after that
// its token is unknown, as on vCenter, where abandoned results do not live forever.
var retrieveTokenTTL = 10 * time.Minute

// maxOpenRetrievals bounds the unfinished results one collector keeps (oldest dropped first), so
// a client that never finishes or cancels its retrievals cannot grow the simulator without end.
const maxOpenRetrievals = 100

type openRetrieval struct {
	rest     []types.ObjectContent
	pageSize int
	touched  time.Time
}

type pagingPropertyCollector struct {
	PropertyCollector // first field: getManagedObject finds mo.PropertyCollector through it
	updateQueue       // WaitForUpdatesEx's numbered changes (wait_updates.go)

	pagingMu sync.Mutex
	counter  uint64
	open     map[string]*openRetrieval // by token
}

func newPagingPropertyCollector(ref types.ManagedObjectReference) *pagingPropertyCollector {
	pc := &pagingPropertyCollector{}
	pc.Self = ref
	return pc
}

func invalidToken() *soap.Fault {
	return Fault("", &types.InvalidArgument{InvalidProperty: "token"})
}

// RetrievePropertiesEx collects everything as the package does, then hands out the first page.
func (pc *pagingPropertyCollector) RetrievePropertiesEx(ctx *Context, r *types.RetrievePropertiesEx) soap.HasFault {
	res := pc.PropertyCollector.RetrievePropertiesEx(ctx, r)
	body, ok := res.(*methods.RetrievePropertiesExBody)
	if !ok || body.Res == nil || body.Res.Returnval == nil {
		return res
	}
	size := RetrievePageSize
	if r.Options.MaxObjects > 0 {
		size = int(r.Options.MaxObjects)
	}
	body.Res.Returnval = pc.page(body.Res.Returnval.Objects, size)
	return body
}

// ContinueRetrievePropertiesEx returns the next page of the result the token stands for. Each
// token is good for one call; an unknown, used, cancelled or expired one is InvalidArgument.
func (pc *pagingPropertyCollector) ContinueRetrievePropertiesEx(ctx *Context, r *types.ContinueRetrievePropertiesEx) soap.HasFault {
	body := &methods.ContinueRetrievePropertiesExBody{}
	open := pc.take(r.Token)
	if open == nil {
		body.Fault_ = invalidToken()
		return body
	}
	body.Res = &types.ContinueRetrievePropertiesExResponse{Returnval: *pc.page(open.rest, open.pageSize)}
	return body
}

// CancelRetrievePropertiesEx drops the rest of the result the token stands for.
func (pc *pagingPropertyCollector) CancelRetrievePropertiesEx(ctx *Context, r *types.CancelRetrievePropertiesEx) soap.HasFault {
	body := &methods.CancelRetrievePropertiesExBody{}
	if pc.take(r.Token) == nil {
		body.Fault_ = invalidToken()
		return body
	}
	body.Res = &types.CancelRetrievePropertiesExResponse{}
	return body
}

// CreatePropertyCollector makes a paging collector too (the package's makes a plain one).
func (pc *pagingPropertyCollector) CreatePropertyCollector(ctx *Context, c *types.CreatePropertyCollector) soap.HasFault {
	// The type must be set: a reference's type otherwise defaults to the Go type's name.
	cpc := newPagingPropertyCollector(types.ManagedObjectReference{Type: "PropertyCollector"})
	return &methods.CreatePropertyCollectorBody{
		Res: &types.CreatePropertyCollectorResponse{Returnval: ctx.Session.Put(cpc).Reference()},
	}
}

// page returns the first size objects, keeping the rest behind a fresh token if there is a rest.
func (pc *pagingPropertyCollector) page(objects []types.ObjectContent, size int) *types.RetrieveResult {
	if len(objects) <= size {
		return &types.RetrieveResult{Objects: objects}
	}
	now := time.Now()
	pc.pagingMu.Lock()
	defer pc.pagingMu.Unlock()
	pc.expire(now)
	if pc.open == nil {
		pc.open = map[string]*openRetrieval{}
	}
	pc.counter++
	token := strconv.FormatUint(pc.counter, 10)
	pc.open[token] = &openRetrieval{rest: objects[size:], pageSize: size, touched: now}
	return &types.RetrieveResult{Token: token, Objects: objects[:size]}
}

// take removes and returns the open result of token, nil if there is none.
func (pc *pagingPropertyCollector) take(token string) *openRetrieval {
	pc.pagingMu.Lock()
	defer pc.pagingMu.Unlock()
	pc.expire(time.Now())
	open := pc.open[token]
	delete(pc.open, token)
	return open
}

// expire drops results idle longer than retrieveTokenTTL, then the oldest beyond
// maxOpenRetrievals. Called with pagingMu held.
func (pc *pagingPropertyCollector) expire(now time.Time) {
	for token, open := range pc.open {
		if now.Sub(open.touched) > retrieveTokenTTL {
			delete(pc.open, token)
		}
	}
	for len(pc.open) >= maxOpenRetrievals {
		oldest := ""
		for token, open := range pc.open {
			if oldest == "" || open.touched.Before(pc.open[oldest].touched) {
				oldest = token
			}
		}
		delete(pc.open, oldest)
	}
}

// installRetrievePaging replaces the registry's PropertyCollector singleton with a paging one.
// Call it right after Model.Create, before any session exists.
func installRetrievePaging() {
	Map.Put(newPagingPropertyCollector(Map.content().PropertyCollector))
}
