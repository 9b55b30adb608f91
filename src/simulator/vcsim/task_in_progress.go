// Compiled INTO github.com/vmware/govmomi/simulator by `go build -overlay` (see build.ts).
//
// vSphere refuses an operation on a VM that is busy with another task: PowerOnVM_Task while a
// clone or reconfigure of the VM is still running fails with TaskInProgress naming the busy
// task. hostd raises it from the call itself (its log shows "Failed to start Reconfiguring:
// vim.fault.TaskInProgress" caught by the AdapterServer), so the client gets a SOAP fault, not a
// task that fails. vcsim 0.24.2 never raises it: its own tasks finish inside the call that
// starts them. The tasks that stay queued or running here are those made by
// TaskManager.CreateTask (running_tasks.go), so a VM with such a task unfinished is busy.
//
// Hooked without touching the package's files. The dispatcher picks the Go method by the SOAP
// method's name on the registered object's type, and *VirtualMachine's PowerOnVMTask & co.
// cannot be redefined in their package, nor can the registered VMs be swapped for a wrapping
// type (the package asserts *VirtualMachine everywhere). So the check sits before dispatch, in
// the Service's body reader (the field ServeSDK reads each request with): a request for one of
// the guarded methods on a busy VM is handed on as a VchTaskInProgress request on the same VM,
// whose method answers the fault. Everything else (session check, locking, fault encoding) is
// still the package's own ServeSDK.

package simulator

import (
	"bytes"
	"encoding/xml"
	"io"
	"reflect"

	"github.com/vmware/govmomi/vim25/soap"
	"github.com/vmware/govmomi/vim25/types"
)

// busyGuarded are the VM methods refused while the VM is busy.
var busyGuarded = map[string]bool{
	"PowerOnVM_Task":  true,
	"PowerOffVM_Task": true,
	"ReconfigVM_Task": true,
	"Destroy_Task":    true,
}

// vchTaskInProgressReq is the request a guarded call on a busy VM becomes; the name is
// registered with the vim25 type map so UnmarshalBody decodes it.
type vchTaskInProgressReq struct {
	This   types.ManagedObjectReference `xml:"_this"`
	Method string                       `xml:"method"`
	Task   types.ManagedObjectReference `xml:"task"`
}

func init() {
	types.Add("VchTaskInProgress", reflect.TypeOf((*vchTaskInProgressReq)(nil)).Elem())
}

// VchTaskInProgress answers a guarded call on a busy VM (see above) with vCenter's fault.
func (vm *VirtualMachine) VchTaskInProgress(ctx *Context, req *vchTaskInProgressReq) soap.HasFault {
	return &serverFaultBody{Reason: Fault("Another task is already in progress.", &types.TaskInProgress{Task: req.Task})}
}

// busyTask returns an unfinished (queued or running) CreateTask task on vm, if any. Those are
// the tasks without an Execute function: the package's own tasks always have one.
func busyTask(vm types.ManagedObjectReference) *types.ManagedObjectReference {
	var candidates []*Task
	Map.m.Lock()
	for ref, obj := range Map.objects {
		if ref.Type != "Task" {
			continue
		}
		if t, ok := obj.(*Task); ok && t.Execute == nil {
			candidates = append(candidates, t)
		}
	}
	Map.m.Unlock()

	for _, t := range candidates {
		var busy bool
		Map.WithLock(t, func() {
			busy = t.Info.Entity != nil && *t.Info.Entity == vm &&
				(t.Info.State == types.TaskInfoStateQueued || t.Info.State == types.TaskInfoStateRunning)
		})
		if busy {
			ref := t.Self
			return &ref
		}
	}
	return nil
}

// refuseWhenBusy returns the request body to dispatch: body itself, or for a guarded method on
// a busy VM a VchTaskInProgress request on that VM. Only bodies naming a guarded method are
// decoded, so other requests cost a few byte searches.
func refuseWhenBusy(body []byte) []byte {
	named := false
	for name := range busyGuarded {
		if bytes.Contains(body, []byte(name)) {
			named = true
			break
		}
	}
	if !named {
		return body
	}
	method, err := UnmarshalBody(Map.typeFunc, body)
	if err != nil || !busyGuarded[method.Name] || method.This.Type != "VirtualMachine" {
		return body // errors are left to ServeSDK to report
	}
	task := busyTask(method.This)
	if task == nil {
		return body
	}

	var b bytes.Buffer
	b.WriteString(xml.Header)
	b.WriteString(`<soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/"><soapenv:Body>`)
	b.WriteString(`<VchTaskInProgress xmlns="urn:vim25"><_this type="VirtualMachine">`)
	_ = xml.EscapeText(&b, []byte(method.This.Value))
	b.WriteString(`</_this><method>`)
	_ = xml.EscapeText(&b, []byte(method.Name))
	b.WriteString(`</method><task type="Task">`)
	_ = xml.EscapeText(&b, []byte(task.Value))
	b.WriteString(`</task></VchTaskInProgress></soapenv:Body></soapenv:Envelope>`)
	return b.Bytes()
}

// InstallTaskInProgress makes s refuse guarded calls on busy VMs. Call it before s.NewServer.
func InstallTaskInProgress(s *Service) {
	read := s.readAll
	s.readAll = func(r io.Reader) ([]byte, error) {
		body, err := read(r)
		if err != nil {
			return body, err
		}
		return refuseWhenBusy(body), nil
	}
}
