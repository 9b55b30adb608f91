/** The interaction room: the attach server and sessions to the container VMs' tethers. */

export type { ExitStatus, ProcessSpec } from '../../tether/protocol/messages';
export { AttachServer, type AttachServerAddress } from './attach-server';
export { type Session, SessionStartError, type SessionStdio, TetherGoneError } from './session';
export { TetherClient } from './tether-client';
