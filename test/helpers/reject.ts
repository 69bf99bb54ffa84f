/** Asserting that a promise rejects with a one-line message containing `message`. */
import { expect } from 'chai';

export async function expectReject(p: Promise<unknown>, message: string): Promise<void> {
  let err: unknown;
  try {
    await p;
  } catch (e) {
    err = e;
  }
  expect(err, 'expected a rejection').to.be.instanceOf(Error);
  expect((err as Error).message).to.contain(message);
  expect((err as Error).message, 'a one-line message').to.not.contain('\n');
}
