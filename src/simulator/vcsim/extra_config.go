// Compiled INTO github.com/vmware/govmomi/simulator by `go build -overlay` (see build.ts).
//
// vcsim 0.24.2's ReconfigVM_Task appends spec.extraConfig to the VM's list: a key set twice
// appears twice, an empty value does not remove its key, and no property-collector update is
// sent for config.extraConfig, so WaitForUpdatesEx never reports the change. vSphere merges
// (last value wins, "" removes) and reports it. The VCH keeps container state in extraConfig and
// watches it, so the box must behave like vSphere here. Fixed without touching the package's
// files: a registry handler sees each reconfigVm task complete and normalizes that VM's list.

package simulator

import (
	"strings"

	"github.com/vmware/govmomi/vim25/mo"
	"github.com/vmware/govmomi/vim25/types"
)

// FreezeKey in a ReconfigVM_Task's extraConfig sets runtime.instantCloneFrozen ("TRUE" freezes,
// anything else thaws); the key itself is consumed. On ESXi a guest freezes itself; on the box
// the host agent relays the guest's request this way. Simulator-only.
const FreezeKey = "sim.instantClone.freeze"

// mergeExtraConfig returns base with over applied: a key keeps its first position and takes
// its last value; a key whose value ends up empty is removed. Values are copied, so lists of
// different VMs never share OptionValue objects.
func mergeExtraConfig(base, over []types.BaseOptionValue) []types.BaseOptionValue {
	index := map[string]int{}
	var merged []*types.OptionValue
	for _, list := range [][]types.BaseOptionValue{base, over} {
		for _, o := range list {
			v := o.GetOptionValue()
			if i, ok := index[v.Key]; ok {
				merged[i].Value = v.Value
				continue
			}
			index[v.Key] = len(merged)
			merged = append(merged, &types.OptionValue{Key: v.Key, Value: v.Value})
		}
	}
	out := make([]types.BaseOptionValue, 0, len(merged))
	for _, v := range merged {
		if s, ok := v.Value.(string); v.Value == nil || (ok && s == "") {
			continue
		}
		out = append(out, v)
	}
	return out
}

// vchHook is a Registry handler (RegisterObject); the registry calls it synchronously from
// Map.Update, so it runs inside the reconfig task, before the SOAP reply is sent.
type vchHook struct{}

func (vchHook) Reference() types.ManagedObjectReference {
	return types.ManagedObjectReference{Type: "VchSimulatorHook", Value: "vch-hook"}
}

func (vchHook) PutObject(mo.Reference)                    {}
func (vchHook) RemoveObject(types.ManagedObjectReference) {}

func (vchHook) UpdateObject(obj mo.Reference, changes []types.PropertyChange) {
	switch o := obj.(type) {
	case *mo.Task:
		if o.Info.DescriptionId == "VirtualMachine.reconfigVm" && o.Info.Entity != nil && completes(changes) {
			if vm, ok := Map.Get(*o.Info.Entity).(*VirtualMachine); ok {
				normalizeExtraConfig(vm)
			}
		}
	case *mo.VirtualMachine:
		// A frozen VM that is powered off (or suspended) is no longer frozen.
		if isTrue(o.Runtime.InstantCloneFrozen) && o.Runtime.PowerState != types.VirtualMachinePowerStatePoweredOn {
			for _, c := range changes {
				if c.Name == "runtime.powerState" {
					Map.Update(o, []types.PropertyChange{{Name: "runtime.instantCloneFrozen", Val: false}})
					break
				}
			}
		}
	}
}

func completes(changes []types.PropertyChange) bool {
	for _, c := range changes {
		if c.Name == "info.completeTime" {
			return true
		}
	}
	return false
}

func normalizeExtraConfig(vm *VirtualMachine) {
	merged := mergeExtraConfig(nil, vm.Config.ExtraConfig)
	var freeze *bool
	list := merged[:0]
	for _, o := range merged {
		v := o.GetOptionValue()
		if v.Key == FreezeKey {
			s, _ := v.Value.(string)
			f := strings.EqualFold(s, "true")
			freeze = &f
			continue
		}
		list = append(list, o)
	}
	changes := []types.PropertyChange{{Name: "config.extraConfig", Val: list}}
	if freeze != nil {
		changes = append(changes, types.PropertyChange{Name: "runtime.instantCloneFrozen", Val: *freeze})
	}
	Map.Update(vm, changes)
}

// InstallVCHExtensions hooks the fixes above, and retrieval paging (retrieve_paging.go), into
// the current registry. Call it after Model.Create, which replaces the registry (simulator.Map).
func InstallVCHExtensions() {
	Map.AddHandler(vchHook{})
	installRetrievePaging()
}
