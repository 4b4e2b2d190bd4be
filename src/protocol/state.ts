/** Request states as the precompile numbers them (IInference.RequestState). */
export enum RequestState {
  None = 0,
  Requested = 1,
  Answered = 2,
  Settled = 3,
  Slashed = 4,
  Expired = 5,
}

/** How a request is settled (`IInference.Mode`). */
export enum Mode {
  ZK = 0,
  TEE = 1,
  VANILLA = 2,
}
