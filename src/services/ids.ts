/** Ids from callers are checked before they reach the vault or the guard (see util/ids.ts). */
import { idProblem } from '../util/ids.js';
import { InputValidationError } from './errors.js';

/** Throws InputValidationError naming `field` when `value` cannot be an id. */
export function requireId(field: string, value: string): string {
  const problem = idProblem(value);
  if (problem !== null) throw new InputValidationError(field, problem);
  return value;
}
