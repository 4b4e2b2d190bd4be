import { expect } from "chai";

/** The error `fn` throws (fails the test when it throws nothing). */
export async function errorOf(fn: () => Promise<unknown>): Promise<Error> {
  try {
    await fn();
  } catch (e) {
    return e as Error;
  }
  expect.fail("expected an error");
}
