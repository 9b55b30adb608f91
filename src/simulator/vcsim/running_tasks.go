// Compiled INTO github.com/vmware/govmomi/simulator by `go build -overlay` (see build.ts).
//
// Every vcsim 0.24.2 task runs to completion inside the call that starts it, and the package has
// no TaskManager.CreateTask, Task.SetTaskState, Task.UpdateProgress or Task.CancelTask (the
// dispatcher answers MethodNotFound). vSphere has them for extensions, which report long
// operations as tasks they drive themselves: CreateTask makes a task on an object, the
// extension sets it running, reports progress and finally sets success with a result or error
// with a fault. With them a client sees a task queued, running, progressing and then finishing
// at a time of its caller's choosing, which is how the VCH's task waiting is tested against the
// box. The methods are new methods of the package's TaskManager and Task types; the dispatcher
// finds them by reflection.

package simulator

import (
	"time"

	"github.com/vmware/govmomi/vim25/methods"
	"github.com/vmware/govmomi/vim25/mo"
	"github.com/vmware/govmomi/vim25/soap"
	"github.com/vmware/govmomi/vim25/types"
)

// CreateTask implements TaskManager.CreateTask: a new task on req.Obj in state queued, to be
// driven by SetTaskState and UpdateProgress. Any taskTypeId is accepted (vCenter wants one an
// extension registered; the simulator has no extension registry to check against).
func (m *TaskManager) CreateTask(ctx *Context, req *types.CreateTask) soap.HasFault {
	body := &methods.CreateTaskBody{}
	obj := ctx.Map.Get(req.Obj)
	if obj == nil {
		body.Fault_ = Fault("", &types.ManagedObjectNotFound{Obj: req.Obj})
		return body
	}
	if req.TaskTypeId == "" {
		body.Fault_ = Fault("", &types.InvalidArgument{InvalidProperty: "taskTypeId"})
		return body
	}

	user := req.InitiatedBy
	if user == "" && ctx.Session != nil {
		user = ctx.Session.UserName
	}
	entity := req.Obj
	task := &Task{}
	task.Self = ctx.Map.newReference(task)
	task.Info = types.TaskInfo{
		Key:           task.Self.Value,
		Task:          task.Self,
		DescriptionId: req.TaskTypeId,
		Entity:        &entity,
		EntityName:    req.Obj.Value,
		State:         types.TaskInfoStateQueued,
		Cancelable:    req.Cancelable,
		Reason:        &types.TaskReasonUser{UserName: user},
		QueueTime:     time.Now(),
		ParentTaskKey: req.ParentTaskKey,
		ActivationId:  req.ActivationId,
	}
	if e, ok := obj.(mo.Entity); ok {
		task.Info.EntityName = e.Entity().Name
	}
	// Registering the task runs the TaskManager's PutObject (it lists the task in recentTask),
	// which takes the TaskManager's lock; the dispatcher holds that lock for this very call, so
	// it is released around the Put (the package's own tasks are never created under it).
	if enableLocker {
		m.Unlock()
		ctx.Map.Put(task)
		m.Lock()
	} else {
		ctx.Map.Put(task)
	}

	body.Res = &types.CreateTaskResponse{Returnval: task.Info}
	return body
}

func taskDone(state types.TaskInfoState) bool {
	return state == types.TaskInfoStateSuccess || state == types.TaskInfoStateError
}

// SetTaskState implements Task.SetTaskState: running sets startTime; success and error set
// completeTime, info.result and info.error. A finished task's state cannot change (InvalidState).
func (t *Task) SetTaskState(ctx *Context, req *types.SetTaskState) soap.HasFault {
	body := &methods.SetTaskStateBody{}
	if taskDone(t.Info.State) {
		body.Fault_ = Fault("", &types.InvalidState{})
		return body
	}

	now := time.Now()
	var changes []types.PropertyChange
	switch req.State {
	case types.TaskInfoStateQueued:
	case types.TaskInfoStateRunning:
		if t.Info.StartTime == nil {
			changes = append(changes, types.PropertyChange{Name: "info.startTime", Val: now})
		}
	case types.TaskInfoStateSuccess, types.TaskInfoStateError:
		if req.State == types.TaskInfoStateError && req.Fault == nil {
			body.Fault_ = Fault("", &types.InvalidArgument{InvalidProperty: "fault"})
			return body
		}
		if t.Info.StartTime == nil {
			changes = append(changes, types.PropertyChange{Name: "info.startTime", Val: now})
		}
		changes = append(changes, types.PropertyChange{Name: "info.completeTime", Val: now})
		if req.State == types.TaskInfoStateSuccess {
			changes = append(changes, types.PropertyChange{Name: "info.result", Val: req.Result})
		} else {
			changes = append(changes, types.PropertyChange{Name: "info.error", Val: *req.Fault})
		}
	default:
		body.Fault_ = Fault("", &types.InvalidArgument{InvalidProperty: "state"})
		return body
	}
	// The state goes last, so a watcher that sees it finished also sees its result or error.
	changes = append(changes, types.PropertyChange{Name: "info.state", Val: req.State})
	ctx.Map.Update(t, changes)

	body.Res = &types.SetTaskStateResponse{}
	return body
}

// UpdateProgress implements Task.UpdateProgress: info.progress of a running task, 0 to 100
// (OutOfBounds otherwise; InvalidState unless the task is running).
func (t *Task) UpdateProgress(ctx *Context, req *types.UpdateProgress) soap.HasFault {
	body := &methods.UpdateProgressBody{}
	if t.Info.State != types.TaskInfoStateRunning {
		body.Fault_ = Fault("", &types.InvalidState{})
		return body
	}
	if req.PercentDone < 0 || req.PercentDone > 100 {
		body.Fault_ = Fault("", &types.OutOfBounds{ArgumentName: "percentDone"})
		return body
	}
	ctx.Map.Update(t, []types.PropertyChange{{Name: "info.progress", Val: req.PercentDone}})
	body.Res = &types.UpdateProgressResponse{}
	return body
}

// CancelTask implements Task.CancelTask for tasks whose work is driven by a client
// (CreateTask): a cancelable task that has not finished is marked info.cancelled, and the
// driver is expected to finish it (vSphere's contract). Any other task is finished by the time
// anyone can call this in vcsim, so the answer there is InvalidState, as vSphere's for a
// finished task; a task that cannot be cancelled is NotSupported.
func (t *Task) CancelTask(ctx *Context, req *types.CancelTask) soap.HasFault {
	body := &methods.CancelTaskBody{}
	switch {
	case taskDone(t.Info.State):
		body.Fault_ = Fault("", &types.InvalidState{})
	case !t.Info.Cancelable:
		body.Fault_ = Fault("", &types.NotSupported{})
	default:
		ctx.Map.Update(t, []types.PropertyChange{{Name: "info.cancelled", Val: true}})
		body.Res = &types.CancelTaskResponse{}
	}
	return body
}
