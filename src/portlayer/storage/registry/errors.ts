/** Errors of the Registry API, carrying the status and the registry's own error code. */

export class RegistryError extends Error {
  constructor(
    message: string,
    readonly status: number,
    /** First `errors[].code` of the body: MANIFEST_UNKNOWN, BLOB_UNKNOWN, UNAUTHORIZED, … */
    readonly code?: string,
  ) {
    super(message);
    this.name = 'RegistryError';
  }
}

/** 401/403 after offering whatever credentials we had. */
export class UnauthorizedError extends RegistryError {
  constructor(message: string, status: number, code?: string) {
    super(message, status, code);
    this.name = 'UnauthorizedError';
  }
}

/** 404: no such repository, manifest or blob. */
export class NotFoundError extends RegistryError {
  constructor(message: string, code?: string) {
    super(message, 404, code);
    this.name = 'NotFoundError';
  }
}

/** Parses the registry's `{"errors":[{code,message}]}` body, tolerating anything else. */
export function parseErrorBody(text: string): { code?: string; message?: string } {
  try {
    const body: unknown = JSON.parse(text);
    if (body !== null && typeof body === 'object' && 'errors' in body && Array.isArray(body.errors)) {
      const first: unknown = body.errors[0];
      if (first !== null && typeof first === 'object') {
        const code = 'code' in first && typeof first.code === 'string' ? first.code : undefined;
        const message = 'message' in first && typeof first.message === 'string' ? first.message : undefined;
        return { ...(code ? { code } : {}), ...(message ? { message } : {}) };
      }
    }
  } catch {
    // not JSON: fall through
  }
  return {};
}
