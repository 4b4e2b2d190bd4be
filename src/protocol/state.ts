/** Request states as the precompile numbers them (IInference.RequestState). */
export enum RequestState {
  None = 0,
  Requested = 1,
  Answered = 2,
  Settled = 3,
  Slashed = 4,
  Expired = 5,
  /** a synchronous call's result, prepared for a coming transaction (`ISyncInference`) */
  Prepared = 6,
}

/** How a request is settled (`IInference.Mode`). */
export enum Mode {
  ZK = 0,
  TEE = 1,
  VANILLA = 2,
}

/** When a synchronous result is final (`ISyncInference.Finality`). */
export enum Finality {
  /** answered in the call, settled later by a proof (slashable until then) */
  Deferred = 0,
  /** the proof is verified in the call: final when the transaction is mined */
  ProofCarrying = 1,
  /** TEE mode: an attested enclave signed the output; final when the transaction is mined */
  Attested = 2,
}
