/**
 * The cast of the unknown-person tests (local mode and DynamoDB): from the seed sample, joy, seulgi and wendy
 * are enrolled; irene is never enrolled (she becomes the unknown person); yeri is irene's look-alike stranger
 * (similarities up to 0.47 between their photos, under the attachment cut of 0.55).
 */
import { expect } from 'vitest';

export const ENROLLED = ['joy', 'seulgi', 'wendy'] as const;
export const UNENROLLED = 'irene';
export const LOOK_ALIKE = 'yeri';

/** Asserts that `work` rejects with a FaceprintError of `code`. */
export async function expectCode(work: Promise<unknown>, code: string): Promise<void> {
  await expect(work).rejects.toMatchObject({ name: 'FaceprintError', code });
}
