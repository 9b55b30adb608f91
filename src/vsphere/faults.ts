/**
 * Typed vSphere faults. A SOAP fault and a task's `info.error` (LocalizedMethodFault)
 * become the same error classes, so callers write one check for both:
 *
 *   if (err instanceof FileNotFoundError) …            // the class, or
 *   if (isFault(err, 'FileNotFound')) err.file …       // the same, narrowed by name
 *   if (isFault(err, 'FileFault')) …                   // any subtype too (walks the schema)
 *
 * The class chosen is that of the nearest type in the fault's base chain that has one, so
 * a subtype the project never heard of (say a newer `InvalidLogin` variant) still lands in
 * the right class, and `faultName` keeps the actual type. Faults whose type the table does
 * not know at all (or that carry no detail) are UnknownFaultError, with the raw detail XML.
 */
import type { SoapFault } from './vim25/decode';
import { vim25 } from './vim25/generated/table';
import type * as T from './vim25/generated/types';
import type { ManagedObjectReference, VimObject } from './vim25/values';

export interface VimFaultInit<F> {
  readonly faultName: string;
  readonly fault: F;
  readonly faultString: string;
  /** The SOAP detail as received; '' for faults that came from a task. */
  readonly detailXml?: string;
}

export class VimFault<F extends T.MethodFault = T.MethodFault> extends Error {
  override name = 'VimFault';
  /** The fault's actual vim25 type, e.g. 'InvalidPowerState'; 'Unknown' when the server sent no detail. */
  readonly faultName: string;
  /** The decoded fault object (its `_type` is faultName). */
  readonly fault: F;
  readonly faultString: string;
  readonly detailXml: string;

  constructor(init: VimFaultInit<F>) {
    super(init.faultString === '' ? init.faultName : `${init.faultName}: ${init.faultString}`);
    this.faultName = init.faultName;
    this.fault = init.fault;
    this.faultString = init.faultString;
    this.detailXml = init.detailXml ?? '';
  }

  /** True when the fault is of type `typeName` or derives from it (FileNotFound is a FileFault). */
  is(typeName: string): boolean {
    return isSubtypeOf(this.faultName, typeName);
  }
}

export class UnknownFaultError extends VimFault {
  override name = 'UnknownFaultError';
}
export class InvalidLoginError extends VimFault<T.InvalidLogin> {
  override name = 'InvalidLoginError';
}
export class NotAuthenticatedError extends VimFault<T.NotAuthenticated> {
  override name = 'NotAuthenticatedError';
}
export class ManagedObjectNotFoundError extends VimFault<T.ManagedObjectNotFound> {
  override name = 'ManagedObjectNotFoundError';
  get obj(): ManagedObjectReference {
    return this.fault.obj;
  }
}
export class InvalidPowerStateError extends VimFault<T.InvalidPowerState> {
  override name = 'InvalidPowerStateError';
  get requestedState(): T.VirtualMachinePowerState | undefined {
    return this.fault.requestedState;
  }
  get existingState(): T.VirtualMachinePowerState {
    return this.fault.existingState;
  }
}
/**
 * What the FileFault subtypes below share: the file the fault names. Not a class of its own in
 * CLASSES, so a FileFault subtype without a class here stays a plain VimFault.
 */
abstract class FileFaultError<F extends T.FileFault> extends VimFault<F> {
  get file(): string {
    return this.fault.file;
  }
}
export class FileAlreadyExistsError extends FileFaultError<T.FileAlreadyExists> {
  override name = 'FileAlreadyExistsError';
}
export class FileNotFoundError extends FileFaultError<T.FileNotFound> {
  override name = 'FileNotFoundError';
}
export class DuplicateNameError extends VimFault<T.DuplicateName> {
  override name = 'DuplicateNameError';
  /** The name in use (`fault.name`; Error already owns `name`). */
  get duplicateName(): string {
    return this.fault.name;
  }
  get object(): ManagedObjectReference {
    return this.fault.object;
  }
}
export class TaskInProgressError extends VimFault<T.TaskInProgress> {
  override name = 'TaskInProgressError';
  get task(): ManagedObjectReference {
    return this.fault.task;
  }
}
export class InvalidArgumentError extends VimFault<T.InvalidArgument> {
  override name = 'InvalidArgumentError';
  get invalidProperty(): string | undefined {
    return this.fault.invalidProperty;
  }
}

/** The error class for each fault name that has one. */
export interface FaultClasses {
  Unknown: UnknownFaultError;
  InvalidLogin: InvalidLoginError;
  NotAuthenticated: NotAuthenticatedError;
  ManagedObjectNotFound: ManagedObjectNotFoundError;
  InvalidPowerState: InvalidPowerStateError;
  FileAlreadyExists: FileAlreadyExistsError;
  FileNotFound: FileNotFoundError;
  DuplicateName: DuplicateNameError;
  TaskInProgress: TaskInProgressError;
  InvalidArgument: InvalidArgumentError;
}
export type KnownFaultName = keyof FaultClasses;

type FaultCtor = new (init: VimFaultInit<never>) => VimFault;
const CLASSES: Readonly<Record<Exclude<KnownFaultName, 'Unknown'>, FaultCtor>> = {
  InvalidLogin: InvalidLoginError,
  NotAuthenticated: NotAuthenticatedError,
  ManagedObjectNotFound: ManagedObjectNotFoundError,
  InvalidPowerState: InvalidPowerStateError,
  FileAlreadyExists: FileAlreadyExistsError,
  FileNotFound: FileNotFoundError,
  DuplicateName: DuplicateNameError,
  TaskInProgress: TaskInProgressError,
  InvalidArgument: InvalidArgumentError,
};

function baseOf(typeName: string): string | undefined {
  const t = Object.hasOwn(vim25.types, typeName) ? vim25.types[typeName] : undefined;
  return t !== undefined && t.kind === 'complex' ? t.base : undefined;
}

function isSubtypeOf(actual: string, wanted: string): boolean {
  let n: string | undefined = actual;
  for (let guard = 0; n !== undefined && guard < 64; guard++, n = baseOf(n)) if (n === wanted) return true;
  return false;
}

/** Narrowing check: the error is a vSphere fault of type `name` (or a subtype of it). */
export function isFault<N extends KnownFaultName>(err: unknown, name: N): err is FaultClasses[N];
export function isFault(err: unknown, name: string): err is VimFault;
export function isFault(err: unknown, name: string): boolean {
  if (!(err instanceof VimFault)) return false;
  if (name === 'Unknown') return err instanceof UnknownFaultError;
  return err.is(name);
}

/** The vim25 fault type of an error, or undefined for errors that are not vSphere faults. */
export function faultTypeOf(err: unknown): string | undefined {
  return err instanceof VimFault ? err.faultName : undefined;
}

/** Build the typed error for a decoded fault object of type `faultName`. */
export function makeFault(faultName: string, fault: VimObject, faultString: string, detailXml = ''): VimFault {
  const init: VimFaultInit<never> = { faultName, fault: fault as never, faultString, detailXml };
  if (!Object.hasOwn(vim25.types, faultName)) return new UnknownFaultError(init);
  for (let n: string | undefined = faultName, guard = 0; n !== undefined && guard < 64; n = baseOf(n), guard++) {
    if (Object.hasOwn(CLASSES, n)) return new CLASSES[n as keyof typeof CLASSES](init);
  }
  return new VimFault(init);
}

/** A SOAP fault as the decoder returns it → its typed error. */
export function faultFromSoap(f: SoapFault): VimFault {
  const detail = f.detail;
  const name = detail?._type ?? 'Unknown';
  return makeFault(name, detail ?? { _type: 'Unknown' }, f.faultString, f.detailXml);
}

/** A task's `info.error` (or a MissingProperty's fault) → the same typed error a SOAP fault gives. */
export function faultFromLocalized(lmf: T.LocalizedMethodFault): VimFault {
  const fault: VimObject = lmf.fault ?? { _type: 'Unknown' };
  const name = fault._type ?? 'Unknown';
  return makeFault(name, fault, lmf.localizedMessage ?? '');
}
