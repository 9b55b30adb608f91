/** The personality: the Docker Engine API over the port layer. */

export { PageNotFoundError, toHttpFailure } from './errors';
export { FilterArgs, parseFilters } from './filters';
export { humanSize, JsonProgressStream, progressBar } from './progress';
export {
  createApp,
  createPersonality,
  DEFAULT_HOST,
  DEFAULT_PORT,
  type ListeningPersonality,
  type ListenOptions,
  type Personality,
  type PersonalityOptions,
} from './server';
export { MAX_API_VERSION, MIN_API_VERSION } from './versioning';
