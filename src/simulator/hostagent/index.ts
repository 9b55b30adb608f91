/** The simulator's host agent: runs powered-on simulator VMs under qemu (see agent.ts). */
export { type HostAgent, type HostAgentOptions, type RunningVm, startHostAgent } from './agent';
export { type LocalDatastore, localPathOf } from './datastorePaths';
export { BACKCHANNEL_PORT_NAME } from './qemuArgs';
export { CLONE_SOURCE_KEY, FREEZE_KEY } from './vmConfig';
