import { formatEther, getAddress, isAddress } from "ethers";

import { connectSibyl } from "../chain/connect.js";
import type { SibylEnv } from "../env.js";
import { ChainError, SibylError } from "../errors.js";
import { type Logger, consoleLogger } from "../log.js";
import { sibylAction } from "./action.js";
import { etherOption, required } from "./args.js";

/** The account `sibyl:node` and `sibyl:proxy` run their node from unless told otherwise. */
export const DEFAULT_NODE_ACCOUNT = 1;

export interface DepositOptions {
  /** wei */
  amount: bigint;
  /** the node the credit is with (default: the network's account #1) */
  node?: string;
  /** whose credit it is (default: the signer's own) */
  account?: string;
  signerIndex: number;
  /** where the result is said (default: the console) */
  log?: Logger;
}

/** What `sibyl:deposit` did. */
export interface Deposit {
  from: string;
  account: string;
  node: string;
  /** wei deposited */
  amount: bigint;
  /** the account's credit with the node afterwards (wei) */
  credit: bigint;
  txHash: string;
}

/**
 * `sibyl:deposit`: deposits inference credit for an account with a node. A synchronous call's
 * fee comes out of the credit its transaction's sender has with the node that prepares it, so
 * each sender deposits with the node behind the pre-execution layer it sends through.
 */
export async function depositCredit(env: SibylEnv, opts: DepositOptions): Promise<Deposit> {
  if (env.inProcess)
    throw new ChainError(
      `network "${env.networkName}" is Hardhat's in-process one: a deposit there vanishes with this command`,
      "start `npx hardhat node` in another terminal and pass --network localhost (the network sibyl:proxy runs on)",
    );
  if (opts.amount <= 0n) throw new SibylError("--amount must be more than 0 ETH", "e.g. --amount 0.1");
  const signers = await env.ethers.getSigners();
  const signer = signers[opts.signerIndex];
  if (!signer)
    throw new ChainError(`no account #${opts.signerIndex} on network ${env.networkName}`, "pass --signer");
  const node =
    opts.node === undefined ? signers[DEFAULT_NODE_ACCOUNT]?.address : addressOption(opts.node, "--node");
  if (node === undefined)
    throw new ChainError(
      `network ${env.networkName} has no account #${DEFAULT_NODE_ACCOUNT} to take as the node`,
      "pass --node <the node's address> (sibyl:proxy prints it)",
    );
  const account = opts.account === undefined ? signer.address : addressOption(opts.account, "--for");

  const { precompile } = await connectSibyl(env);
  if (!(await precompile.nodeOf(node)).registered)
    throw new ChainError(
      `${node} is not a registered node on network ${env.networkName}: credit with it would pay no one`,
      `start the node first (npx hardhat sibyl:proxy --network ${env.networkName} registers its account), ` +
        "or pass --node <the address sibyl:proxy printed>",
    );
  const receipt = await (
    await precompile.connect(signer).depositFor(account, node, { value: opts.amount })
  ).wait();
  const credit = await precompile.creditOf(account, node);
  (opts.log ?? consoleLogger).info(
    `deposited ${formatEther(opts.amount)} ETH for ${account} with node ${node}; its credit is now ` +
      `${formatEther(credit)} ETH`,
  );
  return { from: signer.address, account, node, amount: opts.amount, credit, txHash: receipt!.hash };
}

function addressOption(value: string, option: string): string {
  if (!isAddress(value.trim()))
    throw new SibylError(
      `${option} must be an address, got "${value}"`,
      `e.g. ${option} 0x70997970C51812dc3A010C7d01b50e0d17dc79C8`,
    );
  return getAddress(value.trim());
}

export default sibylAction(
  async (args: { amount?: string; node?: string; for?: string; signer: number }, env): Promise<Deposit> =>
    depositCredit(env, {
      amount: etherOption(required(args.amount, "--amount", "0.1"), "--amount") as bigint,
      node: args.node,
      account: args.for,
      signerIndex: args.signer,
    }),
);
