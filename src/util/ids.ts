/** What any id from a caller must be before it reaches SQL or Redis: bounded, no control characters (NUL breaks PostgreSQL text). */

export const MAX_ID_LENGTH = 256;
// eslint-disable-next-line no-control-regex -- control characters are exactly what is refused
const CONTROL = /[\u0000-\u001f\u007f]/;

/** Why `value` cannot be an id, or null when it can. */
export function idProblem(value: string): string | null {
  if (value.length === 0 || value.length > MAX_ID_LENGTH) return `must be 1 to ${MAX_ID_LENGTH} characters`;
  if (CONTROL.test(value)) return 'must not contain control characters';
  return null;
}

/** Whether `value` can be an id at all (an id that cannot exist needs no look-up). */
export const isPlausibleId = (value: string): boolean => idProblem(value) === null;
