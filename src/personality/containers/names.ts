/** Container names as dockerd accepts them (`daemon/names.RestrictedNamePattern`). */

import { InvalidParameterError } from '../../portlayer/api';

/** One leading '/' allowed; then at least two characters, the first alphanumeric. */
export const RESTRICTED_NAME = /^\/?[a-zA-Z0-9][a-zA-Z0-9_.-]+$/;

/** Throws dockerd's 400 text for a name it would refuse; returns the name without '/'. */
export function validateContainerName(name: string): string {
  if (!RESTRICTED_NAME.test(name)) {
    throw new InvalidParameterError(`Invalid container name (${name}), only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed`);
  }
  return name.replace(/^\//, '');
}
