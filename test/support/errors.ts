import { expect } from 'vitest';
import { FaceprintError, type FaceprintErrorCode } from '../../functions/core/errors.ts';

/** Runs `fn`, asserts that it throws a {@link FaceprintError} with `code`, and returns the error. */
export function expectFaceprintError(fn: () => unknown, code: FaceprintErrorCode): FaceprintError {
  try {
    fn();
  } catch (error) {
    expect(error).toBeInstanceOf(FaceprintError);
    expect((error as FaceprintError).code).toBe(code);
    return error as FaceprintError;
  }
  throw new Error(`expected a FaceprintError ${code}`);
}
