import type { Contract, Signer } from "ethers";

import type { SibylEnv } from "../env.js";
import { requestIdFrom } from "../client/client.js";
import type { SibylStack, StartedEnclave } from "../chain/stack.js";
import type { Logger } from "../log.js";
import { quantizeInput } from "../model/quantize.js";
import type { NodeTracker } from "../node/tracker.js";
import { Mode, RequestState } from "../protocol/state.js";
import { type ConsumerAction, SAMPLES, consumerActions, fmt } from "./format.js";

/**
 * TEE mode in the demo: the enclave's registration (its attestation document verified on-chain,
 * step by step), then a CreditLine application in TEE mode that goes requested → final in one
 * answer transaction, with no proving delay.
 */

export interface TeeDemo {
  /** the enclave's answer key and what registering it cost */
  key: string;
  measurement: string;
  registrationGas: bigint;
  registrationSteps: { subject: string; gasUsed: bigint }[];
  borrower: string;
  requestId: string;
  requestGas: bigint;
  output: bigint[];
  label: string;
  /** ms from sending the request to the final (signed) answer being mined */
  finalMs: number;
  /** gas of the answer transaction that made it final */
  finalGas: bigint;
  stateAfter: string;
  onFinal: ConsumerAction[];
}

/** Prints the enclave's registration (done by `startEnclaves` before the node started). */
export function showRegistration(started: StartedEnclave, log: Logger): void {
  const { enclave, registration } = started;
  log.info(`\n── TEE mode: ${enclave.describe()}`);
  log.info(
    `   measurement keccak256(PCR0‖PCR1‖PCR2) = ${registration.measurement}, allowed by the model's owner`,
  );
  for (const step of registration.steps)
    log.info(`   verified on-chain: ${step.kind} ${step.subject}  gas ${fmt(step.gasUsed)}`);
  log.info(
    `   answer key ${registration.key} registered for the node: ${fmt(registration.gasUsed)} gas in ${registration.steps.length} transactions`,
  );
}

/** One CreditLine application in TEE mode, followed to its final state. */
export async function teeApplication(
  env: SibylEnv,
  stack: SibylStack,
  tracker: NodeTracker,
  creditLine: Contract,
  borrower: Signer,
  started: StartedEnclave,
  log: Logger,
): Promise<TeeDemo> {
  const iris = stack.models.iris;
  const sample = SAMPLES[1];
  const input = quantizeInput(iris.artifacts.quantized, sample.features);
  const fee: bigint = await creditLine.applicationFee();
  log.info(
    `   application in TEE mode: borrower ${(await borrower.getAddress()).slice(0, 10)}…  features ${JSON.stringify(sample.features)} cm (a ${sample.species})`,
  );
  const t0 = Date.now();
  const receipt = await (
    await (creditLine.connect(borrower) as Contract).applyForCreditIn(Mode.TEE, input, { value: fee })
  ).wait();
  const requestId = requestIdFrom(stack.precompile, receipt);
  log.info(
    `   requested  block ${receipt.blockNumber}  gas ${fmt(receipt.gasUsed)}  id ${requestId.slice(0, 18)}…`,
  );
  const final = await tracker.waitAttested(requestId);
  const label = iris.artifacts.classes?.[Number(final.output[0])] ?? String(final.output[0]);
  const state = RequestState[Number(await stack.precompile.stateOf(requestId))];
  log.info(
    `   final      +${final.at - t0} ms  gas ${fmt(final.gasUsed)}  output [${final.output.join(", ")}] = ${label}  (request ${state}: the enclave's signature checked on-chain, no proof to wait for)`,
  );
  const onFinal = await consumerActions(env, creditLine, final.txHash);
  for (const a of onFinal) log.info(`              ↳ CreditLine ${a.event}(${a.args})`);
  return {
    key: started.registration.key,
    measurement: started.registration.measurement,
    registrationGas: started.registration.gasUsed,
    registrationSteps: started.registration.steps.map((s) => ({ subject: s.subject, gasUsed: s.gasUsed })),
    borrower: await borrower.getAddress(),
    requestId,
    requestGas: receipt.gasUsed,
    output: final.output,
    label,
    finalMs: final.at - t0,
    finalGas: final.gasUsed,
    stateAfter: state,
    onFinal,
  };
}
