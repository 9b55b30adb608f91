/** The vSphere room's public surface. */
export { type ConnectOptions, type InvokeOptions, type MethodParams, type MethodResult, VimClient } from './client';
export * from './datastore';
export * from './deviceSpecs';
export {
  DuplicateNameError,
  type FaultClasses,
  FileAlreadyExistsError,
  FileNotFoundError,
  faultFromLocalized,
  faultFromSoap,
  faultTypeOf,
  InvalidArgumentError,
  InvalidLoginError,
  InvalidPowerStateError,
  isFault,
  type KnownFaultName,
  ManagedObjectNotFoundError,
  makeFault,
  NotAuthenticatedError,
  TaskInProgressError,
  UnknownFaultError,
  VimFault,
} from './faults';
export * from './inventory';
export * from './network';
export * from './propertyCollector';
export * from './tasks';
export {
  normalizeThumbprint,
  SESSION_COOKIE,
  type StreamRequest,
  type StreamResponse,
  ThumbprintMismatchError,
  Transport,
  type TransportOptions,
  VimHttpError,
} from './transport';
export * from './updates';
export { type DecodedResponse, decodeResponse, ResponseDecoder, type SoapFault, VimDecodeError } from './vim25/decode';
export { encodeRequest, encodeValue, VimEncodeError } from './vim25/encode';
export type { VimMethodName, VimMethods } from './vim25/generated/methods';
export { vim25 } from './vim25/generated/table';
export type { TypeTable } from './vim25/typeTable';
export {
  isManagedObjectReference,
  type ManagedObjectReference,
  moref,
  type VimAny,
  type VimObject,
} from './vim25/values';
export * from './virtualMachine';
