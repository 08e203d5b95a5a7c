/** Ids from callers are checked before they reach SQL or Redis: bounded, and free of control characters (NUL breaks PostgreSQL text). */
import { InputValidationError } from './errors.js';

export const MAX_ID_LENGTH = 256;
// eslint-disable-next-line no-control-regex -- control characters are exactly what is refused
const CONTROL = /[\u0000-\u001f\u007f]/;

/** Whether `value` can be an id at all (an id that cannot exist needs no look-up). */
export function isPlausibleId(value: string): boolean {
  return value.length > 0 && value.length <= MAX_ID_LENGTH && !CONTROL.test(value);
}

/** Throws InputValidationError naming `field` when `value` cannot be an id. */
export function requireId(field: string, value: string): string {
  if (value.length === 0 || value.length > MAX_ID_LENGTH) throw new InputValidationError(field, `must be 1 to ${MAX_ID_LENGTH} characters`);
  if (CONTROL.test(value)) throw new InputValidationError(field, 'must not contain control characters');
  return value;
}
