/**
 * Parses `WWW-Authenticate` challenges (RFC 7235) as registries send them, e.g.
 * `Bearer realm="https://auth.example/token",service="registry",scope="repository:x:pull"`.
 * Pure: no I/O.
 */

export interface AuthChallenge {
  /** Lower-cased scheme: `bearer`, `basic`. */
  readonly scheme: string;
  /** Parameters with lower-cased names, values unquoted. */
  readonly params: Readonly<Record<string, string>>;
}

const TOKEN_CHAR = /[!#$%&'*+.^_`|~0-9A-Za-z-]/;

/** Returns every challenge in the header (a server may offer several); [] for an empty header. */
export function parseWwwAuthenticate(header: string | readonly string[] | undefined): AuthChallenge[] {
  if (header === undefined) return [];
  if (typeof header !== 'string') return header.flatMap((h) => parseWwwAuthenticate(h));
  const challenges: { scheme: string; params: Record<string, string> }[] = [];
  let i = 0;
  const s = header;
  const skipSpace = (): void => {
    while (i < s.length && (s[i] === ' ' || s[i] === '\t')) i++;
  };
  const readToken = (): string => {
    const start = i;
    while (i < s.length && TOKEN_CHAR.test(s[i]!)) i++;
    return s.slice(start, i);
  };
  const readQuoted = (): string => {
    i++; // opening quote
    let out = '';
    while (i < s.length && s[i] !== '"') {
      if (s[i] === '\\' && i + 1 < s.length) i++;
      out += s[i];
      i++;
    }
    i++; // closing quote
    return out;
  };
  while (i < s.length) {
    skipSpace();
    if (s[i] === ',') {
      i++;
      continue;
    }
    const word = readToken();
    if (word === '') {
      i++; // stray character: skip rather than loop forever
      continue;
    }
    skipSpace();
    const current = challenges[challenges.length - 1];
    if (s[i] === '=' && current !== undefined) {
      // `name=value` belongs to the challenge being read.
      i++;
      skipSpace();
      const value = s[i] === '"' ? readQuoted() : readToken();
      current.params[word.toLowerCase()] = value;
    } else {
      // A bare token is a new scheme (a token68 after it is kept as `token68`).
      const challenge = { scheme: word.toLowerCase(), params: {} as Record<string, string> };
      challenges.push(challenge);
      const save = i;
      const maybeParam = readToken();
      let equals = 0;
      while (s[i + equals] === '=') equals++;
      let after = i + equals;
      while (s[after] === ' ' || s[after] === '\t') after++;
      // `token==` (then end or comma) is a token68; `name=value` is the first parameter.
      if (maybeParam !== '' && (after >= s.length || s[after] === ',') && (equals !== 1 || after === i + 1)) {
        challenge.params.token68 = maybeParam + '='.repeat(equals);
        i = after;
      } else {
        i = save;
      }
    }
  }
  return challenges;
}
