/**
 * The vim25 session: one endpoint, one login, typed calls.
 *
 *   const client = await VimClient.connect({ url, username, password, thumbprint });
 *   const now = await client.invoke('CurrentTime', client.serviceInstance, {});
 *
 * `invoke` is typed from the generated VimMethods table: parameters and the return value
 * of each method. A call that fails with NotAuthenticated (the session expired or was
 * terminated) logs in again once and is retried; concurrent calls share that one login.
 */
import { faultFromSoap, NotAuthenticatedError } from './faults';
import { Transport, type TransportOptions } from './transport';
import { ResponseDecoder } from './vim25/decode';
import { encodeRequest } from './vim25/encode';
import type { VimMethodName, VimMethods } from './vim25/generated/methods';
import { vim25 } from './vim25/generated/table';
import type { ServiceContent, UserSession } from './vim25/generated/types';
import type { TypeTable } from './vim25/typeTable';
import { type ManagedObjectReference, moref } from './vim25/values';

export interface ConnectOptions {
  /** `https://vcenter.example.com` (or with `/sdk`). */
  readonly url: string | URL;
  readonly username: string;
  readonly password: string;
  /** Pin the server certificate (SHA-1 as vCenter shows it, or SHA-256). */
  readonly thumbprint?: string;
  /** Accept any certificate; only when the user asked for it. */
  readonly insecure?: boolean;
  /** CA certificates (PEM) for verification instead of the system store. */
  readonly ca?: string | Buffer | readonly (string | Buffer)[];
  /** Use this API version instead of the one the server advertises. */
  readonly apiVersion?: string;
  readonly locale?: string;
  /** Parallel connections (default 8). */
  readonly connections?: number;
  /** Aborts the connection and login steps. */
  readonly signal?: AbortSignal;
}

export interface InvokeOptions {
  readonly signal?: AbortSignal;
}

export type MethodParams<M extends VimMethodName> = VimMethods[M]['params'];
export type MethodResult<M extends VimMethodName> = VimMethods[M]['returns'];

const SERVICE_INSTANCE = moref('ServiceInstance', 'ServiceInstance');
/** Methods a NotAuthenticated answer must not trigger a re-login for. */
const NO_RELOGIN = new Set<string>(['Login', 'Logout', 'LoginByToken', 'LoginExtensionByCertificate']);

/** `<namespace><name>urn:vim25</name><version>X</version>` from vimServiceVersions.xml. */
export function parseServiceVersions(xml: string): string | undefined {
  for (const m of xml.matchAll(/<namespace>([\s\S]*?)<\/namespace>/g)) {
    const body = m[1];
    if (!/<name>\s*urn:vim25\s*<\/name>/.test(body)) continue;
    const v = /<version>\s*([^<\s]+)\s*<\/version>/.exec(body);
    if (v !== null) return v[1];
  }
  return undefined;
}

function abortError(signal: AbortSignal): unknown {
  return signal.reason ?? new Error('aborted');
}

/** Wait for `p`, but give up (not cancel `p`) when `signal` aborts. */
function untilAborted<T>(p: Promise<T>, signal: AbortSignal | undefined): Promise<T> {
  if (signal === undefined) return p;
  if (signal.aborted) return Promise.reject(abortError(signal));
  return new Promise<T>((resolve, reject) => {
    const onAbort = (): void => reject(abortError(signal));
    signal.addEventListener('abort', onAbort, { once: true });
    p.then(
      (v) => {
        signal.removeEventListener('abort', onAbort);
        resolve(v);
      },
      (e: unknown) => {
        signal.removeEventListener('abort', onAbort);
        reject(e);
      },
    );
  });
}

export class VimClient {
  readonly table: TypeTable = vim25;
  readonly serviceInstance: ManagedObjectReference = SERVICE_INSTANCE;
  private content: ServiceContent | undefined;
  private userSession: UserSession | undefined;
  private credentials: { username: string; password: string; locale: string | undefined } | undefined;
  /** Bumped by every successful login: a call that failed under an older session just retries. */
  private sessionGeneration = 0;
  private relogin: Promise<void> | undefined;

  private constructor(readonly transport: Transport) {}

  /** Connect, discover the API version, fetch the ServiceContent and log in. */
  static async connect(opts: ConnectOptions): Promise<VimClient> {
    const transportOpts: TransportOptions = {
      url: opts.url,
      thumbprint: opts.thumbprint,
      insecure: opts.insecure,
      ca: opts.ca,
      connections: opts.connections,
    };
    const client = new VimClient(new Transport(transportOpts));
    try {
      const signal = opts.signal;
      client.transport.apiVersion = opts.apiVersion ?? (await client.discoverVersion(signal));
      client.content = await client.invoke('RetrieveServiceContent', SERVICE_INSTANCE, {}, { signal });
      // Without a published version, speak the one the server reports about itself.
      client.transport.apiVersion ??= client.content.about.apiVersion;
      client.credentials = { username: opts.username, password: opts.password, locale: opts.locale };
      await client.login(signal);
      return client;
    } catch (e) {
      await client.transport.destroy();
      throw e;
    }
  }

  /**
   * The version from /sdk/vimServiceVersions.xml. A missing or garbled file (old ESXi, a
   * proxy) means "ask the server" (undefined); connection and TLS errors are the caller's.
   */
  private async discoverVersion(signal: AbortSignal | undefined): Promise<string | undefined> {
    const { status, text } = await this.transport.getText(`${this.transport.sdkPath}/vimServiceVersions.xml`, signal);
    return status === 200 ? parseServiceVersions(text) : undefined;
  }

  get serviceContent(): ServiceContent {
    if (this.content === undefined) throw new Error('VimClient is not connected');
    return this.content;
  }

  get apiVersion(): string {
    return this.transport.apiVersion ?? this.serviceContent.about.apiVersion;
  }

  /** The current login session, if logged in. */
  get session(): UserSession | undefined {
    return this.userSession;
  }

  private get sessionManager(): ManagedObjectReference {
    const sm = this.serviceContent.sessionManager;
    if (sm === undefined) throw new Error('the endpoint has no SessionManager');
    return sm;
  }

  /**
   * Call `method` on the managed object `self`. Rejects with the typed fault (faults.ts)
   * the server answered, VimHttpError for non-SOAP answers, or the signal's reason.
   */
  async invoke<M extends VimMethodName>(
    method: M,
    self: ManagedObjectReference,
    params: MethodParams<M>,
    opts: InvokeOptions = {},
  ): Promise<MethodResult<M>> {
    const generation = this.sessionGeneration;
    try {
      return await this.call(method, self, params, opts.signal);
    } catch (e) {
      if (!(e instanceof NotAuthenticatedError) || this.credentials === undefined || NO_RELOGIN.has(method)) throw e;
      await untilAborted(this.reauthenticate(generation), opts.signal);
      return await this.call(method, self, params, opts.signal);
    }
  }

  private async call<M extends VimMethodName>(
    method: M,
    self: ManagedObjectReference,
    params: MethodParams<M>,
    signal: AbortSignal | undefined,
  ): Promise<MethodResult<M>> {
    const envelope = encodeRequest(this.table, method, self, params as Readonly<Record<string, unknown>>);
    const decoder = new ResponseDecoder(this.table, method);
    await this.transport.soap(envelope, (chunk) => decoder.write(chunk), signal);
    const res = decoder.end();
    if (res.kind === 'fault') throw faultFromSoap(res.fault);
    // The decoder built the value from the same table the method types are generated from.
    return res.value as MethodResult<M>;
  }

  /** Log in again unless someone already did since `generation`; concurrent callers share one login. */
  private reauthenticate(generation: number): Promise<void> {
    if (this.sessionGeneration !== generation) return Promise.resolve();
    if (this.relogin === undefined) {
      this.relogin = this.login(undefined).finally(() => {
        this.relogin = undefined;
      });
    }
    return this.relogin;
  }

  private async login(signal: AbortSignal | undefined): Promise<void> {
    const cred = this.credentials;
    if (cred === undefined) throw new Error('VimClient has no credentials to log in with');
    // A stale cookie is useless, and some servers refuse Login on a cookie they still know.
    this.transport.sessionCookie = undefined;
    this.userSession = await this.invoke(
      'Login',
      this.sessionManager,
      { userName: cred.username, password: cred.password, locale: cred.locale },
      { signal },
    );
    this.sessionGeneration++;
  }

  /** End the session on the server. Later calls fail with NotAuthenticated (no re-login). */
  async logout(opts: InvokeOptions = {}): Promise<void> {
    const cred = this.credentials;
    this.credentials = undefined;
    if (cred === undefined) return;
    try {
      await this.invoke('Logout', this.sessionManager, {}, opts);
    } catch (e) {
      // Already gone on the server (expired, terminated): logged out is what was asked for.
      if (!(e instanceof NotAuthenticatedError)) throw e;
    } finally {
      this.userSession = undefined;
      this.transport.sessionCookie = undefined;
    }
  }

  /** Close the connections (without logging out: the session may be shared by cookie). */
  async close(): Promise<void> {
    this.credentials = undefined;
    await this.transport.close();
  }
}
