// This file is compiled INTO github.com/vmware/govmomi/simulator (Debian's 0.24.2) by
// `go build -overlay` (see build.ts): it is a new file beside the package's own, so it can use
// the package's unexported machinery without patching it. It must never be built as part of
// package main; build.ts picks files by their package clause.

package simulator

import (
	"reflect"

	"github.com/vmware/govmomi/object"
	"github.com/vmware/govmomi/simulator/esx"
	"github.com/vmware/govmomi/vim25/methods"
	"github.com/vmware/govmomi/vim25/soap"
	"github.com/vmware/govmomi/vim25/types"
)

// InstantCloneSourceKey is written into a child's extraConfig with the source VM's moref value,
// so the box's host agent can find the frozen template to restore from. Simulator-only: a real
// vCenter has no such key, and the VCH must not rely on it.
const InstantCloneSourceKey = "sim.instantClone.source"

// InstantCloneTask implements InstantClone_Task (vSphere 6.7) which 0.24.2 lacks. The dispatcher
// finds it by reflection: "InstantClone_Task" -> "InstantCloneTask".
func (vm *VirtualMachine) InstantCloneTask(ctx *Context, req *types.InstantClone_Task) soap.HasFault {
	spec := req.Spec

	task := CreateTask(vm, "instantClone", func(t *Task) (types.AnyType, types.BaseMethodFault) {
		// Checked when the task runs, like vSphere: the fault is the task's, not the call's.
		if vm.Runtime.PowerState != types.VirtualMachinePowerStatePoweredOn && !isTrue(vm.Runtime.InstantCloneFrozen) {
			return nil, &types.InvalidPowerState{
				RequestedState: types.VirtualMachinePowerStatePoweredOn,
				ExistingState:  vm.Runtime.PowerState,
			}
		}
		if spec.Name == "" {
			return nil, &types.InvalidArgument{InvalidProperty: "spec.name"}
		}

		loc, fault := vm.instantCloneLocation(&spec.Location)
		if fault != nil {
			return nil, fault
		}
		if dup := vmNamed(loc.folder, spec.Name); dup != nil {
			return nil, &types.DuplicateName{Name: spec.Name, Object: *dup}
		}

		host := Map.Get(loc.host).(*HostSystem)
		event := vm.event()
		ctx.postEvent(&types.VmBeingClonedEvent{
			VmCloneEvent: types.VmCloneEvent{VmEvent: event},
			DestFolder:   folderEventArgument(&loc.folder.Folder),
			DestName:     spec.Name,
			DestHost:     *host.eventArgument(),
		})

		config := vm.instantCloneConfig(&spec, loc.datastore)

		// The same path CloneVM_Task takes: the folder's CreateVM_Task does placement, files,
		// devices and inventory bookkeeping.
		res := loc.folder.CreateVMTask(ctx, &types.CreateVM_Task{
			This:   loc.folder.Self,
			Config: config,
			Pool:   loc.pool,
			Host:   &loc.host,
		})
		ctask := Map.Get(res.(*methods.CreateVM_TaskBody).Res.Returnval).(*Task)
		if ctask.Info.Error != nil {
			return nil, ctask.Info.Error.Fault
		}
		ref := ctask.Info.Result.(types.ManagedObjectReference)
		clone := Map.Get(ref).(*VirtualMachine)

		if len(spec.Location.DeviceChange) != 0 {
			if err := clone.configureDevices(&types.VirtualMachineConfigSpec{DeviceChange: spec.Location.DeviceChange}); err != nil {
				return nil, err
			}
		}

		// An instant clone is born running: it resumes where its source froze. The power task's
		// runner is used directly so no separate PowerOnVM_Task shows up, as on vSphere.
		if _, err := (&powerVMTask{clone, types.VirtualMachinePowerStatePoweredOn, ctx}).Run(t); err != nil {
			return nil, err
		}

		ctx.postEvent(&types.VmClonedEvent{
			VmCloneEvent: types.VmCloneEvent{VmEvent: clone.event()},
			SourceVm:     *event.Vm,
		})

		return ref, nil
	})

	return &methods.InstantClone_TaskBody{
		Res: &types.InstantClone_TaskResponse{
			Returnval: task.Run(),
		},
	}
}

type instantCloneLocation struct {
	folder    *Folder
	pool      types.ManagedObjectReference
	host      types.ManagedObjectReference
	datastore string // datastore name, as it appears in "[name] path"
}

// instantCloneLocation resolves spec.location, defaulting each part to the source's.
func (vm *VirtualMachine) instantCloneLocation(spec *types.VirtualMachineRelocateSpec) (*instantCloneLocation, types.BaseMethodFault) {
	loc := &instantCloneLocation{datastore: vm.vmx(nil).Datastore}

	folderRef := *vm.Parent
	if spec.Folder != nil {
		folderRef = *spec.Folder
	}
	folder, ok := Map.Get(folderRef).(*Folder)
	if !ok {
		return nil, &types.ManagedObjectNotFound{Obj: folderRef}
	}
	loc.folder = folder

	if spec.Pool != nil {
		loc.pool = *spec.Pool
	} else if vm.ResourcePool != nil {
		loc.pool = *vm.ResourcePool
	} else {
		return nil, &types.InvalidArgument{InvalidProperty: "spec.location.pool"}
	}
	if Map.Get(loc.pool) == nil {
		return nil, &types.ManagedObjectNotFound{Obj: loc.pool}
	}

	loc.host = *vm.Runtime.Host
	if spec.Host != nil {
		loc.host = *spec.Host
	}
	host, ok := Map.Get(loc.host).(*HostSystem)
	if !ok {
		return nil, &types.ManagedObjectNotFound{Obj: loc.host}
	}

	if spec.Datastore != nil {
		ds, ok := Map.Get(*spec.Datastore).(*Datastore)
		if !ok {
			return nil, &types.ManagedObjectNotFound{Obj: *spec.Datastore}
		}
		loc.datastore = ds.Name
	}
	// The child lives on its host, so the host must see the datastore.
	if Map.FindByName(loc.datastore, host.Datastore) == nil {
		return nil, &types.InvalidArgument{InvalidProperty: "spec.location.datastore"}
	}

	return loc, nil
}

// vmNamed returns the VM called name directly in folder, if any (vSphere names are unique per folder).
func vmNamed(folder *Folder, name string) *types.ManagedObjectReference {
	var found *types.ManagedObjectReference
	Map.WithLock(folder, func() {
		for _, ref := range folder.ChildEntity {
			if ref.Type != "VirtualMachine" {
				continue
			}
			if e, ok := Map.Get(ref).(*VirtualMachine); ok && e.Name == name {
				r := ref
				found = &r
				return
			}
		}
	})
	return found
}

// instantCloneConfig is the child's CreateVM config: the source's hardware and devices, and the
// source's extraConfig with spec.config merged over it.
func (vm *VirtualMachine) instantCloneConfig(spec *types.VirtualMachineInstantCloneSpec, datastore string) types.VirtualMachineConfigSpec {
	vmx := object.DatastorePath{Datastore: datastore, Path: spec.Name}

	config := types.VirtualMachineConfigSpec{
		Name:                spec.Name,
		GuestId:             vm.Config.GuestId,
		Annotation:          vm.Config.Annotation,
		Firmware:            vm.Config.Firmware,
		Version:             vm.Config.Version,
		Uuid:                spec.BiosUuid, // empty: CreateVM derives one, as vSphere makes a new one
		NumCPUs:             vm.Config.Hardware.NumCPU,
		MemoryMB:            int64(vm.Config.Hardware.MemoryMB),
		NumCoresPerSocket:   vm.Config.Hardware.NumCoresPerSocket,
		VirtualICH7MPresent: vm.Config.Hardware.VirtualICH7MPresent,
		VirtualSMCPresent:   vm.Config.Hardware.VirtualSMCPresent,
		Files:               &types.VirtualMachineFileInfo{VmPathName: vmx.String()},
	}

	defaults := object.VirtualDeviceList(esx.VirtualDevice)
	source := object.VirtualDeviceList(vm.Config.Hardware.Device)
	for _, device := range source {
		if defaults.Find(source.Name(device)) != nil {
			continue // CreateVM adds the default devices itself
		}
		// A copy: CreateVM assigns keys, files and MACs into the device it is given, and the
		// source's own devices must not change.
		dev := copyDevice(device)
		var fop types.VirtualDeviceConfigSpecFileOperation
		switch d := dev.(type) {
		case *types.VirtualDisk:
			// The child gets its own delta disk in its own folder, whose parent is the source's
			// disk: what the host agent needs to give the clone a copy-on-write view of it.
			if b, ok := d.Backing.(*types.VirtualDiskFlatVer2BackingInfo); ok {
				parent := copyBacking(b)
				b.FileName = ""
				b.Parent = parent
				b.Uuid = ""
				b.ChangeId = ""
				fop = types.VirtualDeviceConfigSpecFileOperationCreate
			}
		case types.BaseVirtualEthernetCard:
			// A new identity: CreateVM generates a MAC from the child's UUID.
			card := d.GetVirtualEthernetCard()
			card.MacAddress = ""
			card.AddressType = string(types.VirtualEthernetCardMacTypeGenerated)
		}
		config.DeviceChange = append(config.DeviceChange, &types.VirtualDeviceConfigSpec{
			Operation:     types.VirtualDeviceConfigSpecOperationAdd,
			Device:        dev,
			FileOperation: fop,
		})
	}

	var inherited []types.BaseOptionValue
	for _, o := range vm.Config.ExtraConfig {
		if !notInherited[o.GetOptionValue().Key] {
			inherited = append(inherited, o)
		}
	}
	config.ExtraConfig = mergeExtraConfig(inherited, spec.Config)
	config.ExtraConfig = mergeExtraConfig(config.ExtraConfig, []types.BaseOptionValue{
		&types.OptionValue{Key: InstantCloneSourceKey, Value: vm.Self.Value},
	})
	return config
}

// Keys the child must not inherit: NewVirtualMachine adds "govcsim" itself, and a freeze
// request is the source's state, not its configuration.
var notInherited = map[string]bool{"govcsim": true, FreezeKey: true}

func copyDevice(device types.BaseVirtualDevice) types.BaseVirtualDevice {
	dst := reflect.New(reflect.TypeOf(device).Elem()).Interface()
	deepCopy(device, dst)
	return dst.(types.BaseVirtualDevice)
}

func copyBacking(b *types.VirtualDiskFlatVer2BackingInfo) *types.VirtualDiskFlatVer2BackingInfo {
	dst := new(types.VirtualDiskFlatVer2BackingInfo)
	deepCopy(b, dst)
	return dst
}
