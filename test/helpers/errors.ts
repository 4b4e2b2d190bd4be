import { expect } from "chai";
import { HardhatPluginError } from "hardhat/plugins";

import { SibylError } from "../../src/errors.js";

/** The error `fn` throws (fails the test when it throws nothing). */
export async function errorOf(fn: () => Promise<unknown>): Promise<Error> {
  try {
    await fn();
  } catch (e) {
    return e as Error;
  }
  expect.fail("expected an error");
}

/**
 * The SibylError a task run (`hre.tasks.getTask(...).run(...)`) fails with: tasks throw a
 * HardhatPluginError whose `cause` is the SibylError (fails the test otherwise).
 */
export async function taskErrorOf(fn: () => Promise<unknown>): Promise<SibylError> {
  const error = await errorOf(fn);
  expect(HardhatPluginError.isHardhatPluginError(error), String(error)).to.equal(true);
  expect(error.cause, String(error)).to.be.instanceOf(SibylError);
  return error.cause as SibylError;
}
